package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// NewPrincipal returns a caller that is not an API key: a receiver whose clients cannot
// present a key (lumberjack has no header for one and relies on mutual TLS) names its
// callers and the log types they may send, so that Ingest applies the same type
// allow-list as for keys. "*" in types allows every type.
func NewPrincipal(name string, types []string) *Principal {
	p := &Principal{Name: name, types: make(map[string]bool, len(types))}
	for _, t := range types {
		if t == "*" {
			p.all = true
		}
		p.types[t] = true
	}
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
		sk.p = NewPrincipal(k.Name, k.Types)
		au.keys = append(au.keys, sk)
	}
	return au
}

// AuthEnabled reports whether requests must carry an API key.
func (g *Gateway) AuthEnabled() bool { return g.auth.enabled }

// Authenticate checks an Authorization header value and returns the caller. It accepts
// the schemes that shippers send, all naming a key configured in auth.keys:
//
//   - "Bearer <key>": sluice's own scheme (HTTP, and gRPC metadata in the same form).
//   - "ApiKey <key>": the key as configured.
//   - "ApiKey <base64 of id:key>": the form of Elasticsearch API keys (Filebeat's and
//     Logstash's api_key: "id:key" send this); the id is not checked, only the key.
//   - "Basic <base64 of user:key>": Elasticsearch username and password (Fluent Bit's
//     HTTP_Passwd, Vector's auth.password, Filebeat's password); the user is not
//     checked, the password is the key.
//
// It returns nil, nil when authentication is off.
func (g *Gateway) Authenticate(authorization string) (*Principal, error) {
	if !g.auth.enabled {
		return nil, nil
	}
	authorization = strings.TrimSpace(authorization)
	if authorization == "" {
		return nil, Errorf(KindUnauthenticated, "missing API key: send Authorization: Bearer <key>")
	}
	scheme, cred, _ := strings.Cut(authorization, " ")
	cred = strings.TrimSpace(cred)
	// The key candidates the header can mean; a match of any of them authenticates.
	var candidates [2]string
	n := 0
	switch {
	case cred == "":
	case strings.EqualFold(scheme, "bearer"):
		candidates[0], n = cred, 1
	case strings.EqualFold(scheme, "apikey"):
		// A configured key may itself be valid base64, so try it as it is first.
		candidates[0], n = cred, 1
		if _, key, ok := decodeCredentials(cred); ok {
			candidates[1], n = key, 2
		}
	case strings.EqualFold(scheme, "basic"):
		if _, key, ok := decodeCredentials(cred); ok {
			candidates[0], n = key, 1
		}
	}
	if n == 0 {
		return nil, Errorf(KindUnauthenticated, "malformed Authorization: want Bearer <key>, ApiKey <key> or Basic <base64 of user:key>")
	}
	var found *Principal
	for _, c := range candidates[:n] {
		if p := g.auth.match(c); p != nil && found == nil {
			found = p // the key as sent wins over what it decodes to
		}
	}
	if found == nil {
		return nil, Errorf(KindUnauthenticated, "invalid API key")
	}
	return found, nil
}

// match returns the principal of a key, or nil.
func (a *authenticator) match(key string) *Principal {
	sum := sha256.Sum256([]byte(key))
	var found *Principal
	for _, k := range a.keys {
		// Compare against every key in constant time, so timing tells nothing about
		// which hash prefix matched.
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k.p
		}
	}
	return found
}

// decodeCredentials decodes base64 (padded or not) of "id:key", as Elasticsearch API
// keys and Basic credentials are written. ok is false unless both parts are there and
// the key is not empty.
func decodeCredentials(cred string) (id, key string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(cred); err != nil {
			return "", "", false
		}
	}
	id, key, ok = strings.Cut(string(b), ":")
	return id, key, ok && key != ""
}

// HashKey returns the hex SHA-256 of an API key, as configured in auth.keys[].sha256.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
