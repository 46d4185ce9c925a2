package deploy

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/config"
)

// The security review's checks (deploy/README.md, "Security review"): every overlay
// runs the image it pins, network policies isolate the pods, the pods meet Pod
// Security's restricted profile, the ECS stack's optional customer-managed KMS keys
// are wired to what uses them, and checkov's findings (scripts/deploy-check.sh) are
// exactly those deploy/checkov-skips.yaml accepts. With SLUICE_DEPLOY_K8S_DIR the
// Kubernetes checks read the built overlays; without it, the base's files and the
// overlays' kustomizations.

// tagOnly are the overlays that may pin a tag without a digest.
var tagOnly = map[string]bool{"dev": true}

// overlays are the names of deploy/k8s/overlays' directories.
func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("k8s/overlays")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no overlays in k8s/overlays")
	}
	return out
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// builtOverlay reads the output of `kustomize build` of an overlay that
// scripts/deploy-check.sh wrote to $SLUICE_DEPLOY_K8S_DIR.
func builtOverlay(t *testing.T, dir, name string) []map[string]any {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, name+".yaml"))
	if err != nil {
		t.Fatalf("overlay %s not built: %v", name, err)
	}
	defer fh.Close()
	return k8sDocs(t, fh)
}

// baseObjects are the objects of the base's resources and ConfigMap generator, as
// written (no kustomize).
func baseObjects(t *testing.T) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, r := range list(get(readYAML(t, "k8s/base/kustomization.yaml"), "resources")) {
		fh, err := os.Open(filepath.Join("k8s/base", str(r)))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, k8sDocs(t, fh)...)
		fh.Close()
	}
	return append(objs, generatedConfigMaps(t, "k8s/base")...)
}

// k8sTargets are the object sets the Kubernetes checks run on: each built overlay, or
// the base's files.
func k8sTargets(t *testing.T) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	if dir := os.Getenv("SLUICE_DEPLOY_K8S_DIR"); dir != "" {
		for _, o := range overlays(t) {
			out[o] = builtOverlay(t, dir, o)
		}
		return out
	}
	out["base"] = baseObjects(t)
	return out
}

func kindOf(objs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

func objName(o any) string { return str(get(o, "metadata", "name")) }

// podSpecContainers are a pod spec's containers and init containers.
func podSpecContainers(spec any) []any {
	return append(slices.Clone(list(get(spec, "initContainers"))), list(get(spec, "containers"))...)
}

// ---------------------------------------------------------------- images

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// imageName is a reference without its tag and digest: what a kustomize images entry
// matches.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// applyImages is kustomize's images transformer on one reference, for entries with
// newName, newTag and digest.
func applyImages(ref string, entries []any) string {
	for _, e := range entries {
		if str(get(e, "name")) != imageName(ref) {
			continue
		}
		n := imageName(ref)
		rest, digest, _ := strings.Cut(ref, "@")
		tag := strings.TrimPrefix(rest[len(n):], ":")
		if v := str(get(e, "newName")); v != "" {
			n = v
		}
		if v := str(get(e, "newTag")); v != "" {
			tag = v
		}
		if v := str(get(e, "digest")); v != "" {
			digest = v
		}
		ref = n
		if tag != "" {
			ref += ":" + tag
		}
		if digest != "" {
			ref += "@" + digest
		}
	}
	return ref
}

// pinnedImage is the reference an overlay's kustomization pins for the image sluice.
func pinnedImage(t *testing.T, overlay string) string {
	t.Helper()
	var found []any
	for _, e := range list(get(readYAML(t, filepath.Join("k8s/overlays", overlay, "kustomization.yaml")), "images")) {
		if str(get(e, "name")) == "sluice" {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		t.Fatalf("overlay %s: %d images entries for sluice, want 1", overlay, len(found))
	}
	e := found[0]
	tag, digest := str(get(e, "newTag")), str(get(e, "digest"))
	if str(get(e, "newName")) == "" || tag == "" || tag == "latest" {
		t.Errorf("overlay %s: image %v: want a name and a fixed tag (not latest)", overlay, e)
	}
	if digest != "" && !digestRE.MatchString(digest) {
		t.Errorf("overlay %s: digest %q is not sha256:<64 hex>", overlay, digest)
	}
	if digest == "" && !tagOnly[overlay] {
		t.Errorf("overlay %s: image pinned by tag only; want the digest too", overlay)
	}
	return applyImages("sluice", found)
}

// TestOverlayImages checks that every container of every overlay runs the image its
// kustomization pins, which deploy/README.md documents: built, or kustomize's images
// transformers (the base's, then the overlay's) applied to the base's containers.
func TestOverlayImages(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("SLUICE_DEPLOY_K8S_DIR")
	base := baseObjects(t)
	baseImages := list(get(readYAML(t, "k8s/base/kustomization.yaml"), "images"))
	for _, o := range overlays(t) {
		t.Run(o, func(t *testing.T) {
			want := pinnedImage(t, o)
			if !strings.Contains(string(readme), "`"+want+"`") {
				t.Errorf("deploy/README.md does not document the %s overlay's image %s", o, want)
			}
			objs := base
			if dir != "" {
				objs = builtOverlay(t, dir, o)
			}
			overlayImages := list(get(readYAML(t, filepath.Join("k8s/overlays", o, "kustomization.yaml")), "images"))
			n := 0
			for _, d := range kindOf(objs, "Deployment") {
				for _, c := range podSpecContainers(get(d, "spec", "template", "spec")) {
					got := str(get(c, "image"))
					if dir == "" {
						got = applyImages(applyImages(got, baseImages), overlayImages)
					}
					if got != want {
						t.Errorf("%s/%s runs %s, want %s (the overlay's images entry)", objName(d), get(c, "name"), got, want)
					}
					// A tag alone is followed: pulled at every start (checkov-skips.yaml).
					if dir != "" && !strings.Contains(want, "@") && get(c, "imagePullPolicy") != "Always" {
						t.Errorf("%s/%s: image by tag only, imagePullPolicy %v: want Always", objName(d), get(c, "name"), get(c, "imagePullPolicy"))
					}
					n++
				}
			}
			if n < 2 {
				t.Errorf("found %d containers, want the gateway's and the transformer's", n)
			}
		})
	}
}

// ---------------------------------------------------------------- network policies

// selects reports whether a NetworkPolicy selects the pods of a Deployment.
func selects(t *testing.T, np, dep map[string]any) bool {
	t.Helper()
	if get(np, "metadata", "namespace") != get(dep, "metadata", "namespace") {
		return false
	}
	if get(np, "spec", "podSelector", "matchExpressions") != nil {
		t.Errorf("NetworkPolicy %s: matchExpressions are not read by this test", objName(np))
	}
	labels, _ := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	sel, _ := get(np, "spec", "podSelector", "matchLabels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

type portKey struct {
	proto string
	port  int
}

func (p portKey) String() string { return p.proto + "/" + strconv.Itoa(p.port) }

// npPorts are the ports of a NetworkPolicy rule that applies to pod.
func npPorts(t *testing.T, pod string, rule any) []portKey {
	t.Helper()
	var out []portKey
	for _, p := range list(get(rule, "ports")) {
		proto := str(get(p, "protocol"))
		if proto == "" {
			proto = "TCP"
		}
		n, ok := get(p, "port").(int)
		if !ok || get(p, "endPort") != nil {
			t.Errorf("%s: network policy port %v: want one port number per entry", pod, get(p, "port"))
			continue
		}
		out = append(out, portKey{proto, n})
	}
	if len(out) == 0 {
		t.Errorf("%s: a network policy rule without ports allows every port", pod)
	}
	return out
}

// isClusterDNS reports whether a peer is the cluster's DNS pods (kube-dns in
// kube-system, as on EKS).
func isClusterDNS(peer any) bool {
	return get(peer, "ipBlock") == nil &&
		get(peer, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") == "kube-system" &&
		get(peer, "podSelector", "matchLabels", "k8s-app") == "kube-dns"
}

// reachesMetadata reports whether an ipBlock admits the instance metadata service.
func reachesMetadata(t *testing.T, block any) bool {
	t.Helper()
	imds := net.ParseIP("169.254.169.254")
	_, cidr, err := net.ParseCIDR(str(get(block, "cidr")))
	if err != nil {
		t.Errorf("ipBlock %v: %v", block, err)
		return false
	}
	if !cidr.Contains(imds) {
		return false
	}
	for _, e := range list(get(block, "except")) {
		if _, ex, err := net.ParseCIDR(str(e)); err == nil && ex.Contains(imds) {
			return false
		}
	}
	return true
}

// searchPorts are the TCP ports of the transformer's search engine addresses, from
// its configuration file and environment.
func searchPorts(t *testing.T, objs []map[string]any, dep map[string]any) []int {
	t.Helper()
	var cmName string
	for _, v := range list(get(dep, "spec", "template", "spec", "volumes")) {
		if get(v, "name") == "config" {
			cmName = str(get(v, "configMap", "name"))
		}
	}
	var file string
	for _, cm := range kindOf(objs, "ConfigMap") {
		if objName(cm) == cmName {
			file = str(get(cm, "data", "transform.yaml"))
		}
	}
	path := filepath.Join(t.TempDir(), "transform.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.RoleTransform, path, podEnvironments(t, objs, dep)[0].lookup)
	if err != nil {
		t.Fatalf("transform configuration: %v", err)
	}
	var ports []int
	for _, a := range cfg.Sink.Search.Addresses {
		u, err := url.Parse(a)
		if err != nil {
			t.Fatalf("search address %q: %v", a, err)
		}
		p := map[string]string{"https": "443", "http": "80"}[u.Scheme]
		if u.Port() != "" {
			p = u.Port()
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("search address %q: no port", a)
		}
		if !slices.Contains(ports, n) {
			ports = append(ports, n)
		}
	}
	if len(ports) == 0 {
		t.Fatal("the transformer has no search engine address")
	}
	return ports
}

// TestNetworkPolicies checks that each sluice pod is isolated in both directions and
// what its policies allow: in, the container's ports only (the gateway's from its load
// balancer's source ranges); out, the cluster's DNS, HTTPS but not the instance
// metadata service, and the transformer's search engine ports.
func TestNetworkPolicies(t *testing.T) {
	// The base's load balancer source ranges are the ECS stack's default ShipperCidr.
	shippers := str(get(loadCFN(t), "Parameters", "ShipperCidr", "Default"))
	for _, svc := range kindOf(baseObjects(t), "Service") {
		if r := list(get(svc, "spec", "loadBalancerSourceRanges")); get(svc, "spec", "type") == "LoadBalancer" && (len(r) != 1 || r[0] != shippers) {
			t.Errorf("base Service %s: loadBalancerSourceRanges %v, want [%s] (ShipperCidr's default in ecs/sluice.yaml)", objName(svc), r, shippers)
		}
	}
	for target, objs := range k8sTargets(t) {
		t.Run(target, func(t *testing.T) {
			deps := kindOf(objs, "Deployment")
			if len(deps) < 2 {
				t.Fatalf("%d Deployments, want the gateway and the transformer", len(deps))
			}
			for _, dep := range deps {
				var ingress, egress []any
				isolated := map[string]bool{}
				for _, np := range kindOf(objs, "NetworkPolicy") {
					if !selects(t, np, dep) {
						continue
					}
					for _, pt := range list(get(np, "spec", "policyTypes")) {
						isolated[str(pt)] = true
					}
					ingress = append(ingress, list(get(np, "spec", "ingress"))...)
					egress = append(egress, list(get(np, "spec", "egress"))...)
				}
				if !isolated["Ingress"] || !isolated["Egress"] {
					t.Errorf("%s: isolated for %v; want Ingress and Egress (a pod no policy selects allows everything)", objName(dep), isolated)
				}
				checkIngress(t, dep, ingress, loadBalancerRanges(t, objs, dep))
				var search []int
				if get(dep, "spec", "template", "metadata", "labels", "app.kubernetes.io/component") == "transform" {
					search = searchPorts(t, objs, dep)
				}
				checkEgress(t, dep, egress, search)
			}
		})
	}
}

// loadBalancerRanges are the loadBalancerSourceRanges of the LoadBalancer Services in
// front of a Deployment's pods; nil when there is none.
func loadBalancerRanges(t *testing.T, objs []map[string]any, dep map[string]any) []string {
	t.Helper()
	var out []string
	for _, svc := range kindOf(objs, "Service") {
		if get(svc, "spec", "type") != "LoadBalancer" || get(svc, "metadata", "namespace") != get(dep, "metadata", "namespace") {
			continue
		}
		sel, _ := get(svc, "spec", "selector").(map[string]any)
		match := len(sel) > 0
		for k, v := range sel {
			if get(dep, "spec", "template", "metadata", "labels", k) != v {
				match = false
			}
		}
		if !match {
			continue
		}
		r := list(get(svc, "spec", "loadBalancerSourceRanges"))
		if len(r) == 0 {
			t.Errorf("Service %s: no loadBalancerSourceRanges: anyone who reaches the NLB reaches %s", objName(svc), objName(dep))
		}
		for _, c := range r {
			out = append(out, str(c))
		}
	}
	sort.Strings(out)
	return out
}

// checkIngress: exactly the containers' ports, and from the load balancer's source
// ranges when the pods are behind one.
func checkIngress(t *testing.T, dep map[string]any, rules []any, lbRanges []string) {
	t.Helper()
	dn := objName(dep)
	var want []string
	for _, c := range list(get(dep, "spec", "template", "spec", "containers")) {
		for _, p := range list(get(c, "ports")) {
			proto := str(get(p, "protocol"))
			if proto == "" {
				proto = "TCP"
			}
			want = append(want, portKey{proto, intOf(get(p, "containerPort"))}.String())
		}
	}
	var allowed []string
	for _, rule := range rules {
		for _, p := range npPorts(t, dn, rule) {
			if !slices.Contains(allowed, p.String()) {
				allowed = append(allowed, p.String())
			}
		}
		if lbRanges == nil {
			continue
		}
		var from []string
		for _, peer := range list(get(rule, "from")) {
			if get(peer, "ipBlock") == nil || get(peer, "ipBlock", "except") != nil {
				t.Errorf("%s: ingress peer %v: want the load balancer's source ranges only", dn, peer)
			}
			from = append(from, str(get(peer, "ipBlock", "cidr")))
		}
		sort.Strings(from)
		if !slices.Equal(from, lbRanges) {
			t.Errorf("%s: ingress from %v, want the Service's loadBalancerSourceRanges %v", dn, from, lbRanges)
		}
	}
	sort.Strings(allowed)
	sort.Strings(want)
	if !slices.Equal(allowed, want) {
		t.Errorf("%s: ingress allowed on %v, want the container's ports %v", dn, allowed, want)
	}
}

// checkEgress: DNS to the cluster's DNS pods, HTTPS, the search engine's ports (each
// reachable); a destination and ports in every rule; never the metadata service.
func checkEgress(t *testing.T, dep map[string]any, rules []any, search []int) {
	t.Helper()
	dn := objName(dep)
	allowed := map[portKey]bool{{"UDP", 53}: true, {"TCP", 53}: true, {"TCP", 443}: true}
	for _, p := range search {
		allowed[portKey{"TCP", p}] = true
	}
	covered := map[int]bool{}
	for _, rule := range rules {
		to := list(get(rule, "to"))
		if len(to) == 0 {
			t.Errorf("%s: egress rule %v without a destination allows anywhere", dn, rule)
		}
		for _, peer := range to {
			if b := get(peer, "ipBlock"); b != nil && reachesMetadata(t, b) {
				t.Errorf("%s: egress to %v reaches the instance metadata service (169.254.169.254)", dn, b)
			}
		}
		for _, p := range npPorts(t, dn, rule) {
			if !allowed[p] {
				t.Errorf("%s: egress on %s: want DNS, 443 and the search engine's ports only", dn, p)
			}
			if p.port == 53 && slices.ContainsFunc(to, func(peer any) bool { return !isClusterDNS(peer) }) {
				t.Errorf("%s: DNS (%s) to %v, want the cluster's DNS pods only", dn, p, to)
			}
			if p.proto == "TCP" && len(to) > 0 {
				covered[p.port] = true
			}
		}
	}
	for _, p := range search {
		if !covered[p] {
			t.Errorf("%s: no egress to the search engine's port %d", dn, p)
		}
	}
	if !covered[443] {
		t.Errorf("%s: no egress on 443 to the AWS APIs", dn)
	}
}

// ---------------------------------------------------------------- authenticated listeners

// openOverlays are the overlays that may expose receivers authenticating no one: dev
// runs with API keys off, no certificate, plain RELP and plain syslog (its
// kustomization says so: a throwaway cluster).
var openOverlays = map[string]bool{"dev": true}

// authentication says how a receiver authenticates its clients under cfg; "" when it
// does not. Mutual TLS (client_auth required) for lumberjack, syslog over TLS and RELP;
// API keys over TLS for HTTP and gRPC; plain syslog never.
func authentication(cfg config.Config, r receiver) string {
	mtls := func(t config.TLS) bool { return t.Enabled() && t.ClientCAFile != "" && t.ClientAuth == "required" }
	keys := !cfg.Gateway.Auth.Disabled && len(cfg.Gateway.Auth.Keys) > 0
	st := cfg.Syslog.TLS
	switch {
	case r.path == "lumberjack" && mtls(cfg.Lumberjack.TLS),
		r.path == "relp" && mtls(cfg.RELP.TLS),
		r.path == "syslog.tls" && mtls(config.TLS{CertFile: st.CertFile, KeyFile: st.KeyFile, ClientCAFile: st.ClientCAFile, ClientAuth: st.ClientAuth}):
		return "client certificates"
	case r.path == "http" && keys && cfg.HTTP.TLS.Enabled(),
		r.path == "grpc" && keys && cfg.GRPC.TLS.Enabled():
		return "API keys over TLS"
	}
	return ""
}

// unauthenticated are the receivers a container publishes that authenticate no one.
func unauthenticated(cfg config.Config, published []portKey) []string {
	var out []string
	for k, r := range byPort(cfg) {
		if slices.Contains(published, k) && authentication(cfg, r) == "" {
			out = append(out, r.path)
		}
	}
	sort.Strings(out)
	return out
}

// TestAuthenticatedListeners checks that what the deployments expose by default
// authenticates its clients, and that plain syslog, which cannot, is opt-in: the ECS
// stack with TLS and its default parameters exposes only authenticated receivers (syslog
// over TLS and RELP among them) and PlainSyslog tcp-and-udp adds exactly plain syslog's
// two; every
// Kubernetes target but openOverlays exposes only authenticated receivers.
func TestAuthenticatedListeners(t *testing.T) {
	raw := loadCFN(t)
	pd := get(raw, "Parameters", "PlainSyslog")
	if get(pd, "Default") != "none" || !strings.Contains(str(get(pd, "Description")), "UNAUTHENTICATED") {
		t.Errorf("parameter PlainSyslog: want default none and a warning (UNAUTHENTICATED) in its description: %v", pd)
	}
	certs := testCerts(t)
	for _, plain := range []string{"none", "tcp-and-udp"} {
		set := map[string]string{"TlsSecretArn": testTLSArn, "PlainSyslog": plain,
			"SearchEndpoints": "https://search.internal:9200", "SearchSecretArn": testSecretArn}
		if plain != "none" {
			// Room for two more target groups (ECS's five per service).
			set["SyslogTls"], set["Relp"] = "false", "false"
		}
		params := cfnParams(raw, set)
		if err := cfnRules(raw, params); err != nil {
			t.Fatal(err)
		}
		res := get(renderCFN(t, raw, params), "Resources").(map[string]any)
		const td = "GatewayTaskDefinition"
		main := ecsSluice(t, res, td)
		tc := ecsTaskConfig(t, td, main, config.RoleGateway, params, certs)
		if tc.err != nil {
			t.Fatal(tc.err)
		}
		published := ecsPortMappings(t, td, main)
		want := []string(nil)
		if plain != "none" {
			want = []string{"syslog.tcp", "syslog.udp"}
		}
		if got := unauthenticated(tc.cfg, published); !slices.Equal(got, want) {
			t.Errorf("ECS, TLS, PlainSyslog %s: unauthenticated receivers %v, want %v", plain, got, want)
		}
		if plain != "none" {
			continue
		}
		for _, path := range []string{"syslog.tls", "relp"} {
			if !slices.ContainsFunc(receivers(tc.cfg), func(r receiver) bool { k, ok := r.key(); return r.path == path && ok && slices.Contains(published, k) }) {
				t.Errorf("ECS, TLS, default parameters: %s is not exposed", path)
			}
		}
	}
	for target, objs := range k8sTargets(t) {
		t.Run(target, func(t *testing.T) {
			pc := podConfig(t, objs, config.RoleGateway, certs)
			open := unauthenticated(pc.cfg, podPorts(t, pc.dep))
			switch {
			case openOverlays[target] && !pc.cfg.Gateway.Auth.Disabled:
				t.Errorf("%s is in openOverlays but has API keys on: take it out", target)
			case !openOverlays[target] && open != nil:
				t.Errorf("%s exposes %v, which authenticate no one (plain syslog: opt in per overlay, see components/plain-syslog)", target, open)
			}
		})
	}
}

// ---------------------------------------------------------------- pod security

// TestPodSecurity checks the overlays' namespaces enforce Pod Security's restricted
// profile and every sluice pod meets it (so the label refuses nothing of sluice's),
// with a read-only root filesystem and no Kubernetes API token besides.
func TestPodSecurity(t *testing.T) {
	for _, o := range overlays(t) {
		// The namespace each overlay makes, as written and, when built, as rendered.
		ns := readYAML(t, filepath.Join("k8s/overlays", o, "namespace.yaml"))
		kust := readYAML(t, filepath.Join("k8s/overlays", o, "kustomization.yaml"))
		if objName(ns) != str(get(kust, "namespace")) || !slices.Contains(list(get(kust, "resources")), any("namespace.yaml")) {
			t.Errorf("overlay %s: namespace.yaml makes %q, the overlay deploys into %v", o, objName(ns), get(kust, "namespace"))
		}
		checkPSSLabels(t, o, ns)
	}
	for target, objs := range k8sTargets(t) {
		t.Run(target, func(t *testing.T) {
			if os.Getenv("SLUICE_DEPLOY_K8S_DIR") != "" {
				nss := kindOf(objs, "Namespace")
				if len(nss) != 1 {
					t.Fatalf("%d Namespaces, want the overlay's", len(nss))
				}
				checkPSSLabels(t, target, nss[0])
				for _, o := range objs {
					if o["kind"] != "Namespace" && get(o, "metadata", "namespace") != objName(nss[0]) {
						t.Errorf("%s %s is in namespace %v, not %s", o["kind"], objName(o), get(o, "metadata", "namespace"), objName(nss[0]))
					}
				}
			}
			deps := kindOf(objs, "Deployment")
			if len(deps) < 2 {
				t.Fatalf("%d Deployments, want the gateway and the transformer", len(deps))
			}
			for _, d := range deps {
				checkRestricted(t, objName(d), get(d, "spec", "template", "spec"))
			}
		})
	}
}

func checkPSSLabels(t *testing.T, where string, ns map[string]any) {
	t.Helper()
	for mode, want := range map[string]string{"enforce": "restricted", "enforce-version": "latest", "audit": "restricted", "warn": "restricted"} {
		if v := get(ns, "metadata", "labels", "pod-security.kubernetes.io/"+mode); v != want {
			t.Errorf("%s: namespace %s: pod-security.kubernetes.io/%s is %v, want %s", where, objName(ns), mode, v, want)
		}
	}
}

// checkRestricted checks a pod spec against Pod Security's restricted profile.
func checkRestricted(t *testing.T, pod string, spec any) {
	t.Helper()
	for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if get(spec, host) == true {
			t.Errorf("%s: %s", pod, host)
		}
	}
	if get(spec, "automountServiceAccountToken") != false {
		t.Errorf("%s: want automountServiceAccountToken: false (sluice never calls the Kubernetes API)", pod)
	}
	allowedVolumes := []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
	for _, v := range list(get(spec, "volumes")) {
		for k := range v.(map[string]any) {
			if k != "name" && !slices.Contains(allowedVolumes, k) {
				t.Errorf("%s: volume %v: type %s is not allowed by the restricted profile", pod, get(v, "name"), k)
			}
		}
	}
	psc := get(spec, "securityContext")
	seccompOK := func(sc any) bool {
		typ := get(sc, "seccompProfile", "type")
		return typ == "RuntimeDefault" || typ == "Localhost"
	}
	if get(psc, "runAsUser") == 0 {
		t.Errorf("%s: runAsUser 0", pod)
	}
	for _, c := range podSpecContainers(spec) {
		cn := pod + "/" + str(get(c, "name"))
		sc := get(c, "securityContext")
		if get(psc, "runAsNonRoot") != true && get(sc, "runAsNonRoot") != true {
			t.Errorf("%s: want runAsNonRoot", cn)
		}
		if get(sc, "runAsUser") == 0 {
			t.Errorf("%s: runAsUser 0", cn)
		}
		if s := get(sc, "seccompProfile"); s != nil && !seccompOK(sc) || s == nil && !seccompOK(psc) {
			t.Errorf("%s: want seccompProfile RuntimeDefault or Localhost", cn)
		}
		if get(sc, "privileged") == true {
			t.Errorf("%s: privileged", cn)
		}
		if get(sc, "allowPrivilegeEscalation") != false {
			t.Errorf("%s: want allowPrivilegeEscalation: false", cn)
		}
		if !slices.Contains(list(get(sc, "capabilities", "drop")), any("ALL")) {
			t.Errorf("%s: want capabilities drop [ALL]", cn)
		}
		for _, a := range list(get(sc, "capabilities", "add")) {
			if a != "NET_BIND_SERVICE" {
				t.Errorf("%s: adds capability %v", cn, a)
			}
		}
		if get(sc, "readOnlyRootFilesystem") != true {
			t.Errorf("%s: want readOnlyRootFilesystem", cn)
		}
		for _, p := range list(get(c, "ports")) {
			if get(p, "hostPort") != nil {
				t.Errorf("%s: hostPort %v", cn, get(p, "hostPort"))
			}
		}
	}
}

// ---------------------------------------------------------------- KMS keys (ECS)

// kmsParams are the ECS stack's optional customer-managed keys.
var kmsParams = []string{"StreamKmsKeyArn", "LogKmsKeyArn", "LeaseTableKmsKeyArn", "ArchiveKmsKeyArn"}

// kmsGrants are a role's kms: actions, each with its resources ("Ref X" or the value).
func kmsGrants(role any) map[string][]string {
	out := map[string][]string{}
	for _, p := range list(get(role, "Properties", "Policies")) {
		for _, st := range list(get(p, "PolicyDocument", "Statement")) {
			acts := list(get(st, "Action"))
			if acts == nil {
				acts = []any{get(st, "Action")}
			}
			rs := list(get(st, "Resource"))
			if rs == nil {
				rs = []any{get(st, "Resource")}
			}
			for _, a := range acts {
				if !strings.HasPrefix(str(a), "kms:") {
					continue
				}
				for _, r := range rs {
					res := str(r)
					if ref(r) != "" {
						res = "Ref " + ref(r)
					}
					out[str(a)] = append(out[str(a)], res)
				}
			}
		}
	}
	return out
}

// TestCloudFormationKMSKeys deploys the template without and with the customer-managed
// keys: without, the AWS-managed keys (SSE-S3 for the archive) and no KMS permission;
// with, every stream, log group, the lease table and the archive bucket use their key,
// and each task role may use the streams' key for what Kinesis needs of its calls (a
// data key to write, Decrypt to read), the transform role the archive's key for
// multipart uploads (both).
func TestCloudFormationKMSKeys(t *testing.T) {
	raw := loadCFN(t)
	for _, p := range kmsParams {
		def := get(raw, "Parameters", p)
		re, err := regexp.Compile(str(get(def, "AllowedPattern")))
		if err != nil || str(get(def, "Type")) != "String" || get(def, "Default") != "" {
			t.Errorf("parameter %s: want an optional String (default empty) with an AllowedPattern: %v %v", p, def, err)
			continue
		}
		for s, ok := range map[string]bool{"": true, testKey(p): true, "alias/aws/kinesis": false, "arn:aws:kms:eu-west-1:111122223333:alias/x": false} {
			if re.MatchString(s) != ok {
				t.Errorf("parameter %s: AllowedPattern matches %q: %v, want %v (key ARNs only: IAM grants on key ARNs)", p, s, !ok, ok)
			}
		}
	}
	keys := map[string]string{}
	for _, p := range kmsParams {
		keys[p] = testKey(p)
	}
	for _, withKeys := range []bool{false, true} {
		set := map[string]string{}
		if withKeys {
			set = keys
		}
		tpl := renderCFN(t, raw, cfnParams(raw, set))
		res := get(tpl, "Resources").(map[string]any)
		want := func(param, fallback string) string {
			if withKeys {
				return "Ref " + param
			}
			return fallback
		}
		keyOf := func(v any) string {
			if r := ref(v); r != "" {
				return "Ref " + r
			}
			return str(v)
		}
		counts := map[string]int{}
		for rn, r := range res {
			p := get(r, "Properties")
			switch str(get(r, "Type")) {
			case "AWS::Kinesis::Stream":
				counts["stream"]++
				if get(p, "StreamEncryption", "EncryptionType") != "KMS" || keyOf(get(p, "StreamEncryption", "KeyId")) != want("StreamKmsKeyArn", "alias/aws/kinesis") {
					t.Errorf("keys %v: %s: encryption %v", withKeys, rn, get(p, "StreamEncryption"))
				}
			case "AWS::Logs::LogGroup":
				counts["log group"]++
				if keyOf(get(p, "KmsKeyId")) != want("LogKmsKeyArn", "") {
					t.Errorf("keys %v: %s: KmsKeyId %v", withKeys, rn, get(p, "KmsKeyId"))
				}
			case "AWS::DynamoDB::Table":
				counts["table"]++
				sse := get(p, "SSESpecification")
				if get(sse, "SSEEnabled") != "true" || get(sse, "SSEType") != "KMS" || keyOf(get(sse, "KMSMasterKeyId")) != want("LeaseTableKmsKeyArn", "") {
					t.Errorf("keys %v: %s: SSESpecification %v", withKeys, rn, sse)
				}
			case "AWS::S3::Bucket":
				counts["bucket"]++
				sse := list(get(p, "BucketEncryption", "ServerSideEncryptionConfiguration"))
				def := get(sse, "0", "ServerSideEncryptionByDefault")
				if len(sse) == 1 {
					def = get(sse[0], "ServerSideEncryptionByDefault")
				}
				wantAlg := map[bool]string{true: "aws:kms", false: "AES256"}[withKeys]
				if len(sse) != 1 || str(get(def, "SSEAlgorithm")) != wantAlg || keyOf(get(def, "KMSMasterKeyID")) != want("ArchiveKmsKeyArn", "") {
					t.Errorf("keys %v: %s: encryption %v, want %s", withKeys, rn, sse, wantAlg)
				}
			case "AWS::IAM::Role":
				grants := kmsGrants(r)
				wantGrants := map[string][]string{}
				if withKeys {
					var kinesis []string
					for _, pol := range list(get(p, "Policies")) {
						for _, st := range list(get(pol, "PolicyDocument", "Statement")) {
							for _, a := range list(get(st, "Action")) {
								kinesis = append(kinesis, str(a))
							}
						}
					}
					if slices.Contains(kinesis, "kinesis:PutRecords") {
						wantGrants["kms:GenerateDataKey"] = []string{"Ref StreamKmsKeyArn"}
					}
					if slices.Contains(kinesis, "kinesis:GetRecords") {
						wantGrants["kms:Decrypt"] = []string{"Ref StreamKmsKeyArn"}
					}
					if slices.Contains(kinesis, "s3:PutObject") {
						wantGrants["kms:Decrypt"] = append(wantGrants["kms:Decrypt"], "Ref ArchiveKmsKeyArn")
						wantGrants["kms:GenerateDataKey"] = append(wantGrants["kms:GenerateDataKey"], "Ref ArchiveKmsKeyArn")
					}
				}
				if len(grants) != len(wantGrants) {
					t.Errorf("keys %v: %s: KMS grants %v, want %v", withKeys, rn, grants, wantGrants)
				}
				for a, rs := range wantGrants {
					slices.Sort(rs)
					slices.Sort(grants[a])
					if !slices.Equal(grants[a], rs) {
						t.Errorf("keys %v: %s: %s on %v, want on %v", withKeys, rn, a, grants[a], rs)
					}
				}
			}
		}
		if counts["stream"] < 5 || counts["log group"] < 1 || counts["table"] != 1 || counts["bucket"] != 1 {
			t.Errorf("keys %v: found %v", withKeys, counts)
		}
	}
}

func testKey(param string) string {
	return "arn:aws:kms:eu-west-1:111122223333:key/" + map[string]string{
		"StreamKmsKeyArn":     "11111111-2222-3333-4444-555555555555",
		"LogKmsKeyArn":        "mrk-1234abcd12ab34cd56ef1234567890ab",
		"LeaseTableKmsKeyArn": "66666666-7777-8888-9999-000000000000",
		"ArchiveKmsKeyArn":    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
	}[param]
}

// ---------------------------------------------------------------- checkov

// checkovSkip is one entry of deploy/checkov-skips.yaml.
type checkovSkip struct {
	Check  string `yaml:"check"`
	Where  string `yaml:"where"`
	Reason string `yaml:"reason"`
	re     *regexp.Regexp
}

func checkovSkips(t *testing.T) []*checkovSkip {
	t.Helper()
	data, err := os.ReadFile("checkov-skips.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var skips []*checkovSkip
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&skips); err != nil {
		t.Fatalf("checkov-skips.yaml: %v", err)
	}
	for _, s := range skips {
		if !regexp.MustCompile(`^CKV2?_[A-Z0-9]+_[0-9]+$`).MatchString(s.Check) || s.Where == "" || !strings.Contains(s.Where, ":") || len(strings.Fields(s.Reason)) < 5 {
			t.Errorf("checkov-skips.yaml: %+v: want a check ID, where (<file>:<resource>) and a reason", *s)
		}
		s.re = regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(s.Where), `\*`, ".*") + "$")
	}
	return skips
}

// checkovReport is what this test reads of checkov's JSON output.
type checkovReport struct {
	CheckType string `json:"check_type"`
	Results   struct {
		Passed        []checkovResult `json:"passed_checks"`
		Failed        []checkovResult `json:"failed_checks"`
		Skipped       []checkovResult `json:"skipped_checks"`
		ParsingErrors []string        `json:"parsing_errors"`
	} `json:"results"`
	Summary struct {
		Passed, Failed, Skipped int
		ParsingErrors           int    `json:"parsing_errors"`
		Version                 string `json:"checkov_version"`
	} `json:"summary"`
}

type checkovResult struct {
	Check    string `json:"check_id"`
	Name     string `json:"check_name"`
	File     string `json:"file_path"`
	Resource string `json:"resource"`
	Lines    []int  `json:"file_line_range"`
}

func (r checkovResult) where() string { return filepath.Base(r.File) + ":" + r.Resource }

// TestCheckovFindings checks checkov's reports ($SLUICE_DEPLOY_CHECKOV_DIR, written by
// scripts/deploy-check.sh) against deploy/checkov-skips.yaml: every finding is
// accepted there, every entry there still matches a finding, nothing is suppressed
// elsewhere, and the scan covered the Dockerfile, the template and every overlay with
// the pinned checkov. Without the reports: the skip list and its documentation only.
func TestCheckovFindings(t *testing.T) {
	skips := checkovSkips(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Security review\n")
	if !ok {
		t.Fatal(`deploy/README.md has no "## Security review" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(CKV2?_[A-Z0-9]+_[0-9]+)` \\| `([^`]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1]+" "+m[2])
	}
	var listed []string
	for _, s := range skips {
		listed = append(listed, s.Check+" "+s.Where)
	}
	sort.Strings(documented)
	sort.Strings(listed)
	if !slices.Equal(documented, listed) {
		t.Errorf("deploy/README.md's Security review lists the skips %v; checkov-skips.yaml has %v", documented, listed)
	}

	script, err := os.ReadFile("../scripts/deploy-check.sh")
	if err != nil {
		t.Fatal(err)
	}
	pin := regexp.MustCompile(`(?m)^checkov=(\S+)$`).FindSubmatch(script)
	if pin == nil {
		t.Fatal("scripts/deploy-check.sh pins no checkov version")
	}
	if !strings.Contains(section, "checkov "+string(pin[1])) {
		t.Errorf("deploy/README.md's Security review does not name the pinned checkov %s", pin[1])
	}
	// What the Security review says of the scan's command line.
	for _, flag := range []string{"CKV_SKIP_PACKAGE_UPDATE_CHECK=true timeout 300", `checkov/bin/checkov" --skip-download`,
		"-d deploy --framework cloudformation dockerfile secrets", "--framework kubernetes -f"} {
		if !strings.Contains(string(script), flag) {
			t.Errorf("scripts/deploy-check.sh runs checkov without %q (deploy/README.md, Security review)", flag)
		}
	}
	// CKV_K8S_35's reason: the engine's credentials are settings no file can supply.
	vars := settingVars(t, config.RoleTransform)
	for v := range vars {
		if strings.HasPrefix(v, "SLUICE_SINK_SEARCH_") && strings.HasSuffix(v, "_FILE") && v != "SLUICE_SINK_SEARCH_CA_FILE" {
			t.Errorf("sluice has %s: mount the credentials Secret as files and drop CKV_K8S_35 from checkov-skips.yaml", v)
		}
	}
	for _, v := range []string{"SLUICE_SINK_SEARCH_USERNAME", "SLUICE_SINK_SEARCH_PASSWORD", "SLUICE_SINK_SEARCH_API_KEY"} {
		if !vars[v] {
			t.Errorf("sluice has no setting %s (CKV_K8S_35's reason in checkov-skips.yaml)", v)
		}
	}

	dir := os.Getenv("SLUICE_DEPLOY_CHECKOV_DIR")
	if dir == "" {
		t.Log("SLUICE_DEPLOY_CHECKOV_DIR not set: checked the skip list only (scripts/deploy-check.sh runs checkov)")
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no checkov reports in %s", dir)
	}
	var reports []checkovReport
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var many []checkovReport
		if err := json.Unmarshal(data, &many); err != nil {
			var one checkovReport
			if err := json.Unmarshal(data, &one); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			many = []checkovReport{one}
		}
		reports = append(reports, many...)
	}
	scanned := map[string]int{}
	scannedFiles := map[string]bool{}
	used := map[*checkovSkip]int{}
	for _, r := range reports {
		if r.Summary.Version != string(pin[1]) {
			t.Errorf("%s: checkov %s, want the pinned %s", r.CheckType, r.Summary.Version, pin[1])
		}
		if r.Summary.ParsingErrors != 0 || len(r.Results.ParsingErrors) != 0 {
			t.Errorf("%s: checkov could not parse %v", r.CheckType, r.Results.ParsingErrors)
		}
		for _, s := range r.Results.Skipped {
			t.Errorf("%s: %s on %s skipped outside checkov-skips.yaml (an inline suppression?)", r.CheckType, s.Check, s.where())
		}
		scanned[r.CheckType] += len(r.Results.Passed) + len(r.Results.Failed)
		for _, c := range append(slices.Clone(r.Results.Passed), r.Results.Failed...) {
			scannedFiles[r.CheckType+" "+filepath.Base(c.File)] = true
		}
		for _, c := range r.Results.Failed {
			i := slices.IndexFunc(skips, func(s *checkovSkip) bool { return s.Check == c.Check && s.re.MatchString(c.where()) })
			if i < 0 {
				t.Errorf("checkov %s: %s %q on %s (%s, lines %v): fix it, or add it with its reason to deploy/checkov-skips.yaml and deploy/README.md",
					r.CheckType, c.Check, c.Name, c.Resource, c.File, c.Lines)
				continue
			}
			used[skips[i]]++
		}
	}
	for _, typ := range []string{"cloudformation", "dockerfile", "kubernetes"} {
		if scanned[typ] == 0 {
			t.Errorf("checkov ran no %s check", typ)
		}
	}
	for _, want := range []string{"cloudformation sluice.yaml", "dockerfile Dockerfile"} {
		if !scannedFiles[want] {
			t.Errorf("checkov did not scan %s", want)
		}
	}
	for _, o := range overlays(t) {
		if !scannedFiles["kubernetes "+o+".yaml"] {
			t.Errorf("checkov did not scan the built %s overlay", o)
		}
	}
	for _, s := range skips {
		if used[s] == 0 {
			t.Errorf("checkov-skips.yaml: %s on %s matches no finding: remove it (and from deploy/README.md)", s.Check, s.Where)
		}
	}
}
