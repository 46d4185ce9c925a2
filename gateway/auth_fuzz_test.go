package gateway

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode"
)

// credentialCandidates is a reference of what an Authorization header can mean, kept
// deliberately simple: the credential after the scheme as it is (Bearer, ApiKey), and
// the part after the first ':' of its base64 decoding, padded or not (ApiKey, Basic).
func credentialCandidates(header string) []string {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return nil
	}
	var out []string
	bearer, apiKey, basic := strings.EqualFold(scheme, "bearer"), strings.EqualFold(scheme, "apikey"), strings.EqualFold(scheme, "basic")
	if bearer || apiKey {
		out = append(out, cred)
	}
	if apiKey || basic {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(cred); err == nil {
				if _, key, ok := strings.Cut(string(b), ":"); ok && key != "" {
					out = append(out, key)
				}
				break
			}
		}
	}
	return out
}

// FuzzAuthenticate guards the parsing of Authorization headers: any header is
// answered without a panic, either with a principal or with an unauthenticated error
// and no principal; a principal is only ever the one whose key the header carries (by
// a simple reference decoding); and every form shippers send (Bearer, ApiKey as it is
// and as base64 of id:key, Basic with the key as password) authenticates a key.
func FuzzAuthenticate(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, s := range [][2]string{
		{"Bearer fw-key", "k"}, {"  bearer   fw-key  ", "k"}, {"ApiKey " + b64("id:fw-key"), "k"}, {"Basic " + b64("u:fw-key"), "k"},
		{"ApiKey " + strings.TrimRight(b64("id:fw-key"), "="), "k"}, {"Basic " + b64(":"), "k"}, {"Basic !!!", "k"},
		{"Digest x", "k"}, {"", ""}, {"Bearer", "k"}, {"Bearer \t\u00a0", "k"}, {"Basic " + b64("a:b:c"), "b:c"},
		{"ApiKey " + b64("x:fw-key"), b64("x:fw-key")}, {"Bearer " + strings.Repeat("k", 1<<20), strings.Repeat("k", 1<<20)},
		{"Basic " + b64(strings.Repeat(":", 1<<20)), "k"}, {"Basic " + strings.Repeat("=", 100000), "k"},
		{strings.Repeat(" ", 100000) + "Bearer x", "x"}, {"Bearer key with spaces", "key with spaces"}, {"ApiKey \xff\xfe", "\xff\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, header, key string) {
		keys := map[string]string{"fw": "fw-key", "tricky": b64("x:fw-key")}
		cfg := Auth{Keys: []APIKey{
			{Name: "fw", SHA256: HashKey("fw-key"), Types: []string{"firewall"}},
			{Name: "tricky", SHA256: HashKey(keys["tricky"]), Types: []string{"*"}},
		}}
		if key != "" {
			keys["fuzz"] = key
			cfg.Keys = append(cfg.Keys, APIKey{Name: "fuzz", SHA256: HashKey(key), Types: []string{"*"}})
		}
		g := &Gateway{auth: newAuthenticator(cfg)}

		p, err := g.Authenticate(header)
		switch {
		case err != nil:
			if p != nil || KindOf(err) != KindUnauthenticated {
				t.Fatalf("Authenticate(%q) = %v, %v: want no principal and an unauthenticated error", header, p, err)
			}
		case p == nil:
			t.Fatalf("Authenticate(%q) = nil, nil with keys configured", header)
		default:
			found := false
			for _, c := range credentialCandidates(header) {
				found = found || c == keys[p.Name]
			}
			if !found {
				t.Fatalf("Authenticate(%q) = key %s, whose key the header does not carry", header, p.Name)
			}
		}

		// Every form of a key whose ends are not spaces (TrimSpace would take them off)
		// authenticates that key, or another configured with the same text.
		if key == "" || strings.TrimFunc(key, unicode.IsSpace) != key {
			return
		}
		for _, h := range []string{"Bearer " + key, "ApiKey " + key, "ApiKey " + b64("id:"+key), "Basic " + b64("user:"+key),
			"apikey " + strings.TrimRight(b64(":"+key), "=")} {
			p, err := g.Authenticate(h)
			if err != nil || p == nil {
				t.Fatalf("Authenticate(%q) = %v, %v; want key fuzz", h, p, err)
			}
			if keys[p.Name] != key {
				t.Fatalf("Authenticate(%q) = key %s (%q), want one with the key %q", h, p.Name, keys[p.Name], key)
			}
		}
		off := &Gateway{auth: newAuthenticator(Auth{Disabled: true, Keys: cfg.Keys})}
		if p, err := off.Authenticate(header); p != nil || err != nil {
			t.Fatalf("auth off: Authenticate(%q) = %v, %v; want nil, nil", header, p, err)
		}
	})
}
