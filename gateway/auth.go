package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// Principal is an authenticated caller: the API key it presented.
type Principal struct {
	// Name is the key's name from the configuration.
	Name  string
	all   bool
	types map[string]bool
}

// Allows reports whether the principal may send events of the log type.
func (p *Principal) Allows(typ string) bool { return p.all || p.types[typ] }

type principalKey struct{}

// WithPrincipal returns a context that carries the authenticated caller to Ingest.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller stored by WithPrincipal, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// authenticator checks API keys against their configured SHA-256 hashes.
type authenticator struct {
	enabled bool
	keys    []storedKey
}

type storedKey struct {
	hash [sha256.Size]byte
	p    *Principal
}

func newAuthenticator(a Auth) *authenticator {
	au := &authenticator{enabled: !a.Disabled && len(a.Keys) > 0}
	for _, k := range a.Keys {
		var sk storedKey
		// Validate has checked the hex; a bad one here leaves a zero hash no key matches.
		if b, err := hex.DecodeString(k.SHA256); err == nil && len(b) == sha256.Size {
			copy(sk.hash[:], b)
		}
		p := &Principal{Name: k.Name, types: map[string]bool{}}
		for _, t := range k.Types {
			if t == "*" {
				p.all = true
			}
			p.types[t] = true
		}
		sk.p = p
		au.keys = append(au.keys, sk)
	}
	return au
}

// AuthEnabled reports whether requests must carry an API key.
func (g *Gateway) AuthEnabled() bool { return g.auth.enabled }

// Authenticate checks an Authorization header value ("Bearer <key>"; gRPC metadata uses
// the same form). It returns nil, nil when authentication is off.
func (g *Gateway) Authenticate(authorization string) (*Principal, error) {
	if !g.auth.enabled {
		return nil, nil
	}
	scheme, key, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if authorization == "" {
		return nil, Errorf(KindUnauthenticated, "missing API key: send Authorization: Bearer <key>")
	}
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(key) == "" {
		return nil, Errorf(KindUnauthenticated, "malformed Authorization: want Bearer <key>")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	var found *Principal
	for _, k := range g.auth.keys {
		// Compare against every key in constant time, so timing tells nothing about
		// which hash prefix matched.
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k.p
		}
	}
	if found == nil {
		return nil, Errorf(KindUnauthenticated, "invalid API key")
	}
	return found, nil
}

// HashKey returns the hex SHA-256 of an API key, as configured in auth.keys[].sha256.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
