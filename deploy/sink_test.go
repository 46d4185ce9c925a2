package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/config"
	"github.com/sluice-siem/sluice/internal/secret"
)

// This file reads both deployments as sluice would: the ECS task environment and the
// built kustomize overlays become the configuration `sluice transform` loads (file plus
// environment), the real validation runs on it, and the search sink, its engine and
// where each credential comes from are checked. Helpers for deploy_test.go's
// TestCloudFormation and TestKubernetes.

// ---------------------------------------------------------------- CloudFormation

// cfnScenario is one way to deploy the ECS stack: parameter values over the defaults,
// and what `sluice transform` must then be configured with.
type cfnScenario struct {
	name   string
	params map[string]string

	engine    string
	addresses []string
	// secrets are the variables Secrets Manager injects into the transform container.
	secrets   []string
	sigv4, ca bool
	newDomain bool
}

const (
	testSecretArn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:sluice-search-AbCdEf"
	testTLSArn    = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:sluice-tls-AbCdEf"
	testKeyArn    = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	// searchDomainResource is the IAM resource of the SigV4 statement: the paths of the
	// domain SearchDomainName, as checkRole prints it.
	searchDomainResource = "Sub arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/${SearchDomainName}/*"
)

func cfnScenarios() []cfnScenario {
	return []cfnScenario{{
		name: "opensearch basic auth private CA",
		params: map[string]string{"TlsSecretArn": testTLSArn, "SearchAuth": "basic", "SearchSecretArn": testSecretArn, "SearchCa": "true",
			"SearchEndpoints": "https://search-a.internal:9200,https://search-b.internal:9200"},
		engine: "opensearch", addresses: []string{"https://search-a.internal:9200", "https://search-b.internal:9200"},
		secrets: []string{"SLUICE_SINK_SEARCH_PASSWORD", "SLUICE_SINK_SEARCH_USERNAME"}, ca: true,
	}, {
		name: "elasticsearch api key, RELP and plain syslog over UDP, archive with a KMS key",
		params: map[string]string{"TlsSecretArn": testTLSArn, "SearchEngine": "elasticsearch", "SearchAuth": "api_key",
			"SearchSecretArn": testSecretArn, "SearchEndpoints": "https://logs.es.internal:9243",
			"SyslogTls": "false", "PlainSyslog": "udp", "SyslogClientAuth": "optional",
			"ArchiveKmsKeyArn": testKeyArn, "ArchiveTransitionClass": "DEEP_ARCHIVE", "ArchiveTransitionDays": "30", "ArchiveExpirationDays": "2555"},
		engine: "elasticsearch", addresses: []string{"https://logs.es.internal:9243"}, secrets: []string{"SLUICE_SINK_SEARCH_API_KEY"},
	}, {
		name: "amazon opensearch service sigv4 plain tcp gateway with plain syslog",
		params: map[string]string{"SearchAuth": "sigv4", "SearchEndpoints": "https://vpc-sluice-logs-abc123.eu-west-1.es.amazonaws.com",
			"PlainSyslog": "tcp-and-udp"},
		engine: "opensearch", addresses: []string{"https://vpc-sluice-logs-abc123.eu-west-1.es.amazonaws.com"}, sigv4: true,
	}, {
		name: "search domain made by the stack, syslog over TLS and plain TCP, no archive",
		params: map[string]string{"TlsSecretArn": testTLSArn, "SearchAuth": "sigv4", "CreateSearchDomain": "true",
			"Relp": "false", "PlainSyslog": "tcp", "Archive": "false"},
		engine: "opensearch", addresses: []string{"https://stack-searchdomain.domainendpoint"}, sigv4: true, newDomain: true,
	}}
}

// cfnParams is every parameter's value: its default, overridden by set; and the
// pseudo parameters.
func cfnParams(tpl map[string]any, set map[string]string) map[string]string {
	out := map[string]string{"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::Partition": "aws", "AWS::StackName": "stack"}
	for name, p := range get(tpl, "Parameters").(map[string]any) {
		if d, ok := get(p, "Default").(string); ok {
			out[name] = d
		}
	}
	for k, v := range set {
		out[k] = v
	}
	return out
}

// cfnTruth evaluates a condition or a rule's assertion: Fn::Equals, Fn::Not, Fn::And,
// Fn::Or and Condition over parameter values.
func cfnTruth(v any, params map[string]string, conds map[string]any) (bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition: %v", v)
	}
	for fn, arg := range m {
		args := list(arg)
		switch fn {
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals with %d arguments", len(args))
			}
			a, err := cfnScalar(args[0], params)
			if err != nil {
				return false, err
			}
			b, err := cfnScalar(args[1], params)
			return a == b, err
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not with %d arguments", len(args))
			}
			b, err := cfnTruth(args[0], params, conds)
			return !b, err
		case "Fn::And", "Fn::Or":
			and := fn == "Fn::And"
			for _, a := range args {
				b, err := cfnTruth(a, params, conds)
				if err != nil {
					return false, err
				}
				if b != and {
					return b, nil
				}
			}
			return and, nil
		case "Condition":
			c, ok := conds[str(arg)]
			if !ok {
				return false, fmt.Errorf("no condition %v", arg)
			}
			return cfnTruth(c, params, conds)
		}
		return false, fmt.Errorf("unsupported %s in a condition", fn)
	}
	return false, nil
}

// cfnScalar is a literal or a parameter's value.
func cfnScalar(v any, params map[string]string) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	if r := ref(v); r != "" {
		p, ok := params[r]
		if !ok {
			return "", fmt.Errorf("no value for parameter %s", r)
		}
		return p, nil
	}
	return "", fmt.Errorf("unsupported value %v", v)
}

// cfnRules checks the template's Rules as CloudFormation does before it deploys: each
// rule whose condition holds must have every assertion true.
func cfnRules(tpl map[string]any, params map[string]string) error {
	var failed []string
	rules, _ := get(tpl, "Rules").(map[string]any)
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := rules[name]
		if c := get(r, "RuleCondition"); c != nil {
			ok, err := cfnTruth(c, params, nil)
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !ok {
				continue
			}
		}
		for _, a := range list(get(r, "Assertions")) {
			ok, err := cfnTruth(get(a, "Assert"), params, nil)
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !ok {
				failed = append(failed, name+": "+str(get(a, "AssertDescription")))
			}
		}
	}
	if failed != nil {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}

// noValue stands for AWS::NoValue while a template is rendered.
type noValue struct{}

// renderCFN is the template as deployed with params: resources and outputs whose
// Condition is false are gone, every Fn::If is its chosen branch, AWS::NoValue removes
// its property or list item. Other intrinsic functions stay as they are.
func renderCFN(t *testing.T, tpl map[string]any, params map[string]string) map[string]any {
	t.Helper()
	conds, _ := get(tpl, "Conditions").(map[string]any)
	holds := func(name string) bool {
		b, err := cfnTruth(map[string]any{"Condition": name}, params, conds)
		if err != nil {
			t.Fatalf("condition %s: %v", name, err)
		}
		return b
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if ref(x) == "AWS::NoValue" {
				return noValue{}
			}
			if l := list(x["Fn::If"]); len(l) == 3 && len(x) == 1 {
				if holds(str(l[0])) {
					return walk(l[1])
				}
				return walk(l[2])
			}
			out := map[string]any{}
			for k, e := range x {
				if w := walk(e); w != (noValue{}) {
					out[k] = w
				}
			}
			return out
		case []any:
			out := []any{}
			for _, e := range x {
				if w := walk(e); w != (noValue{}) {
					out = append(out, w)
				}
			}
			return out
		}
		return v
	}
	out := map[string]any{}
	for k, v := range tpl {
		out[k] = v
	}
	for _, section := range []string{"Resources", "Outputs"} {
		kept := map[string]any{}
		for name, r := range get(tpl, section).(map[string]any) {
			if c := str(get(r, "Condition")); c != "" && !holds(c) {
				continue
			}
			kept[name] = walk(r)
		}
		out[section] = kept
	}
	return out
}

// searchHTTPActions are the es:ESHttp* actions of the HTTP methods sink/search uses
// (http.MethodX in its source), what a SigV4-signed sink is allowed and no more.
func searchHTTPActions(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../sink/search/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("sink/search sources: %v", err)
	}
	var actions []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "http" && strings.HasPrefix(sel.Sel.Name, "Method") {
				a := "es:ESHttp" + strings.TrimPrefix(sel.Sel.Name, "Method")
				if !slices.Contains(actions, a) {
					actions = append(actions, a)
				}
			}
			return true
		})
	}
	sort.Strings(actions)
	if len(actions) < 2 {
		t.Fatalf("found too few HTTP methods in sink/search: %v", actions)
	}
	return actions
}

// checkTaskVolumes: a task definition's only volumes are ephemeral task storage for
// files written from Secrets Manager at start (the gateway's TLS, the transformer's
// CA bundle), never a host path or a file system that would hold state.
func checkTaskVolumes(t *testing.T, name string, v any) {
	t.Helper()
	allowed := map[string]string{"GatewayTaskDefinition": "tls", "TransformTaskDefinition": "search-ca"}[name]
	for _, vol := range list(v) {
		m, _ := vol.(map[string]any)
		if len(m) != 1 || str(m["Name"]) != allowed {
			t.Errorf("%s: volume %v; only the ephemeral %q volume is allowed", name, vol, allowed)
		}
	}
	if v != nil && list(v) == nil {
		t.Errorf("%s: volumes %v", name, v)
	}
}

// secretSettingVars are the variables of the settings that hold credentials (fields
// of type secret.Secret): they must come from a secret store in every deployment.
func secretSettingVars() map[string]bool {
	out := map[string]bool{}
	walkSecrets(reflect.ValueOf(config.Config{}), "", func(path string, _ secret.Secret) { out[config.EnvName(path)] = true })
	return out
}

// walkSecrets calls fn with the path and value of every secret.Secret field of v (maps
// and lists, whose variables have no fixed name, are not descended into).
func walkSecrets(v reflect.Value, prefix string, fn func(path string, s secret.Secret)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		switch {
		case f.Type == reflect.TypeOf(secret.Secret("")):
			fn(prefix+name, v.Field(i).Interface().(secret.Secret))
		case f.Type.Kind() == reflect.Struct:
			walkSecrets(v.Field(i), prefix+name+".", fn)
		}
	}
}

// plainSecrets are the names among vars that set a credential: in a plain environment
// (a task's Environment, a pod's value or ConfigMap), each one is a leak.
func plainSecrets(vars []string) []string {
	secrets := secretSettingVars()
	var out []string
	for _, v := range vars {
		if secrets[v] {
			out = append(out, v)
		}
	}
	return out
}

// containerSecrets adds the variables ECS injects from Secrets Manager (Secrets) to
// env, each a setting of the role read from the key of a secret parameter (an ARN
// named *SecretArn), and returns their names and keys.
func containerSecrets(t *testing.T, name string, main map[string]any, known map[string]bool, env map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	from := regexp.MustCompile(`^\$\{(\w+SecretArn)\}:([a-z_]+)::$`)
	for _, s := range list(main["Secrets"]) {
		n := str(get(s, "Name"))
		if !known[n] {
			t.Errorf("%s: secret %s is not a setting of sluice", name, n)
		}
		m := from.FindStringSubmatch(str(get(s, "ValueFrom", "Fn::Sub")))
		if m == nil {
			t.Errorf("%s: secret %s from %v, want a key of a Secrets Manager secret parameter (${XSecretArn}:key::)", name, n, get(s, "ValueFrom"))
			continue
		}
		env[n] = "from-secrets-manager-" + m[2]
		out[n] = m[2]
	}
	return out
}

// checkSecretsFromStore: no credential in the container's plain Environment.
func checkSecretsFromStore(t *testing.T, name string, main map[string]any, fromSecrets map[string]string) {
	t.Helper()
	var plain []string
	for _, e := range list(main["Environment"]) {
		plain = append(plain, str(get(e, "Name")))
	}
	if leaks := plainSecrets(plain); leaks != nil {
		t.Errorf("%s: credentials %v in the plain environment: inject them from Secrets Manager (Secrets)", name, leaks)
	}
	for n := range fromSecrets {
		if slices.Contains(plain, n) {
			t.Errorf("%s: %s both in Environment and Secrets", name, n)
		}
	}
}

// checkContainerMemory: sluice's container carries the task's memory as its own limit,
// so that its cgroup holds the limit sluice derives GOMEMLIMIT from (Fargate sets the
// task's limit on a parent cgroup the container may not see), and its root file
// system is read-only: nothing is kept on the task's disk.
func checkContainerMemory(t *testing.T, name string, td any, main map[string]any) {
	t.Helper()
	if task := ref(get(td, "Memory")); task == "" || ref(main["Memory"]) != task {
		t.Errorf("%s: container memory %v, want the task's (Ref %s)", name, main["Memory"], task)
	}
	if main["ReadonlyRootFilesystem"] != "true" {
		t.Errorf("%s: want ReadonlyRootFilesystem true", name)
	}
}

// fileSettings are the settings that name files sluice reads at start.
func fileSettings(c *config.Config) []*string {
	var out []*string
	for _, tl := range []*config.TLS{&c.HTTP.TLS, &c.GRPC.TLS, &c.Lumberjack.TLS, &c.RELP.TLS} {
		out = append(out, &tl.CertFile, &tl.KeyFile, &tl.ClientCAFile)
	}
	// Syslog over TLS has its certificate fields flat in its section.
	st := &c.Syslog.TLS
	return append(out, &st.CertFile, &st.KeyFile, &st.ClientCAFile, &c.Sink.Search.CAFile)
}

// replaceFiles checks that every file setting names a file under one of dirs (the
// volumes written from a secret store) and replaces it with a test certificate or key.
func replaceFiles(t *testing.T, name string, c *config.Config, dirs []string, certs map[string]string) {
	t.Helper()
	for _, p := range fileSettings(c) {
		if *p == "" {
			continue
		}
		if !slices.ContainsFunc(dirs, func(d string) bool { return strings.HasPrefix(*p, strings.TrimSuffix(d, "/")+"/") }) {
			t.Errorf("%s: file %s is on none of the volumes %v", name, *p, dirs)
		}
		if strings.Contains(filepath.Base(*p), "key") {
			*p = certs["tls.key"]
		} else {
			*p = certs["tls.crt"]
		}
	}
}

// mountedFiles is replaceFiles for an ECS container: its MountPoints.
func mountedFiles(t *testing.T, name string, c *config.Config, main map[string]any, certs map[string]string) {
	t.Helper()
	var dirs []string
	for _, m := range list(main["MountPoints"]) {
		dirs = append(dirs, str(get(m, "ContainerPath")))
	}
	replaceFiles(t, name, c, dirs, certs)
}

// searchSinkProblems lists what keeps a transform configuration from indexing into a
// search engine with nothing on local disk.
func searchSinkProblems(c config.Config) []string {
	var out []string
	if c.Sink.Kind != "search" {
		out = append(out, fmt.Sprintf("sink.kind is %q: the transform tier must index, set search explicitly", c.Sink.Kind))
	}
	if e := c.Sink.Search.Engine; e != "opensearch" && e != "elasticsearch" {
		out = append(out, fmt.Sprintf("sink.search.engine %q", e))
	}
	if len(c.Sink.Search.Addresses) == 0 {
		out = append(out, "no sink.search.addresses")
	}
	for _, a := range c.Sink.Search.Addresses {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			out = append(out, fmt.Sprintf("sink.search.addresses: %q is not a URL", a))
		}
	}
	if c.Sink.UsesFiles() {
		out = append(out, "writes files to local disk (the file sink or dead letters in files)")
	}
	return out
}

// checkECSSearchSink: the transform task indexes into the scenario's engine, at its
// addresses, with its credentials from Secrets Manager.
func checkECSSearchSink(t *testing.T, name string, c config.Config, fromSecrets map[string]string, sc cfnScenario) {
	t.Helper()
	for _, p := range searchSinkProblems(c) {
		t.Errorf("%s: %s", name, p)
	}
	s := c.Sink.Search
	if s.Engine != sc.engine || !slices.Equal(s.Addresses, sc.addresses) {
		t.Errorf("%s: engine %s at %v, want %s at %v", name, s.Engine, s.Addresses, sc.engine, sc.addresses)
	}
	if (s.AWSRegion != "") != sc.sigv4 || (s.CAFile != "") != sc.ca {
		t.Errorf("%s: SigV4 region %q, CA file %q; want SigV4 %v, CA %v", name, s.AWSRegion, s.CAFile, sc.sigv4, sc.ca)
	}
	var got []string
	for n := range fromSecrets {
		got = append(got, n)
	}
	sort.Strings(got)
	if !slices.Equal(got, sc.secrets) {
		t.Errorf("%s: from Secrets Manager %v, want %v", name, got, sc.secrets)
	}
	if sc.sigv4 && (s.Username != "" || s.Password != "" || s.APIKey != "") {
		t.Errorf("%s: SigV4 with other credentials", name)
	}
}

// TestCloudFormationSearchDomain: the domain the stack can make is in the VPC, reached
// by the transform tasks only over HTTPS, encrypted at rest and between nodes, with
// fine-grained access control, and admits the HTTP calls the sink makes and no more.
func TestCloudFormationSearchDomain(t *testing.T) {
	raw := loadCFN(t)
	var sc cfnScenario
	for _, s := range cfnScenarios() {
		if s.newDomain {
			sc = s
		}
	}
	params := cfnParams(raw, sc.params)
	res := get(renderCFN(t, raw, params), "Resources")
	d := get(res, "SearchDomain", "Properties")
	if d == nil {
		t.Fatal("no SearchDomain with CreateSearchDomain true")
	}
	for path, want := range map[string]string{
		"EncryptionAtRestOptions.Enabled":     "true",
		"NodeToNodeEncryptionOptions.Enabled": "true",
		"DomainEndpointOptions.EnforceHTTPS":  "true",
		"AdvancedSecurityOptions.Enabled":     "true",
	} {
		if got := get(d, strings.Split(path, ".")...); got != want {
			t.Errorf("SearchDomain %s = %v, want %s", path, got, want)
		}
	}
	if ref(get(d, "DomainName")) != "SearchDomainName" {
		t.Errorf("domain name %v, want Ref SearchDomainName (the task role's IAM resource names it)", get(d, "DomainName"))
	}
	if get(d, "AdvancedSecurityOptions", "MasterUserOptions", "MasterUserARN", "Fn::GetAtt") == nil {
		t.Errorf("master user %v: want the transform task role by default", get(d, "AdvancedSecurityOptions", "MasterUserOptions"))
	}
	sgs := list(get(d, "VPCOptions", "SecurityGroupIds"))
	if len(sgs) != 1 || len(list(get(d, "VPCOptions", "SubnetIds"))) != 2 {
		t.Fatalf("VPC options %v", get(d, "VPCOptions"))
	}
	ingress := list(get(res, ref(sgs[0]), "Properties", "SecurityGroupIngress"))
	if len(ingress) != 1 || str(get(ingress[0], "FromPort")) != "443" || ref(get(ingress[0], "SourceSecurityGroupId")) != "TransformSecurityGroup" {
		t.Errorf("search domain ingress %v, want 443 from the transform tasks only", ingress)
	}
	sts := list(get(d, "AccessPolicies", "Statement"))
	if len(sts) != 1 {
		t.Fatalf("access policy %v", get(d, "AccessPolicies"))
	}
	var acts []string
	for _, a := range list(get(sts[0], "Action")) {
		acts = append(acts, str(a))
	}
	sort.Strings(acts)
	if !slices.Equal(acts, searchHTTPActions(t)) || "Sub "+str(get(sts[0], "Resource", "Fn::Sub")) != searchDomainResource {
		t.Errorf("access policy %v on %v, want %v on %s", acts, get(sts[0], "Resource"), searchHTTPActions(t), searchDomainResource)
	}
	if o := get(renderCFN(t, raw, params), "Outputs", "SearchDomainEndpoint"); o == nil {
		t.Error("no SearchDomainEndpoint output")
	}
}

// TestCloudFormationRefusesNoSink: the template's Rules refuse a stack that would not
// index (no endpoints and no domain), credentials that are not in Secrets Manager, and
// SigV4 with anything but OpenSearch.
func TestCloudFormationRefusesNoSink(t *testing.T) {
	raw := loadCFN(t)
	for _, tc := range []struct {
		set  map[string]string
		rule string
	}{
		{map[string]string{}, "SinkIsConfigured"},
		{map[string]string{"SearchEndpoints": "https://s:9200"}, "CredentialsFromSecretsManager"},
		{map[string]string{"SearchEndpoints": "https://s:9200", "SearchAuth": "none", "SearchCa": "true"}, "CredentialsFromSecretsManager"},
		{map[string]string{"SearchEndpoints": "https://s:9200", "SearchAuth": "sigv4", "SearchEngine": "elasticsearch"}, "SigV4IsForOpenSearch"},
		{map[string]string{"CreateSearchDomain": "true", "SearchAuth": "basic", "SearchSecretArn": testSecretArn}, "NewDomainUsesSigV4"},
	} {
		err := cfnRules(raw, cfnParams(raw, tc.set))
		if err == nil || !strings.Contains(err.Error(), tc.rule+":") {
			t.Errorf("parameters %v: Rules say %v, want %s to refuse them", tc.set, err, tc.rule)
		}
	}
}

// ---------------------------------------------------------------- Kubernetes

// generatedConfigMaps are the ConfigMaps of the configMapGenerator of dir's
// kustomization (files and literals), named as written (kustomize adds a hash).
func generatedConfigMaps(t *testing.T, dir string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		ConfigMapGenerator []struct {
			Name     string   `yaml:"name"`
			Files    []string `yaml:"files"`
			Literals []string `yaml:"literals"`
		} `yaml:"configMapGenerator"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, g := range k.ConfigMapGenerator {
		m := map[string]string{}
		for _, f := range g.Files {
			key, path, ok := strings.Cut(f, "=")
			if !ok {
				key, path = filepath.Base(f), f
			}
			b, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				t.Fatal(err)
			}
			m[key] = string(b)
		}
		for _, l := range g.Literals {
			key, val, _ := strings.Cut(l, "=")
			m[key] = val
		}
		out = append(out, map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": g.Name}, "data": anyMap(m)})
	}
	return out
}

// podEnv is a pod's environment as sluice sees it, given the keys of the Secrets it
// reads.
type podEnv struct {
	name string
	vars map[string]string
}

func (e podEnv) lookup(k string) (string, bool) { v, ok := e.vars[k]; return v, ok }

// credentialSecrets are the contents the manifests accept in a credentials Secret:
// one set of keys per authentication method (values are made up).
var credentialSecrets = []struct {
	name string
	keys []string
}{
	{"basic auth", []string{"username", "password", "ca.crt"}},
	{"api key", []string{"api_key"}},
}

// podEnvironments renders the environment of a Deployment's first container once per
// credentialSecrets entry: literal values, ConfigMap keys from objs (a missing one is
// an error unless optional), Secret keys where that Secret has them.
func podEnvironments(t *testing.T, objs []map[string]any, dep map[string]any) []podEnv {
	t.Helper()
	c := list(get(dep, "spec", "template", "spec", "containers"))[0]
	if get(c, "envFrom") != nil {
		t.Errorf("%v: envFrom is not read by this test; name each variable", get(dep, "metadata", "name"))
	}
	configMap := func(name string) map[string]any {
		for _, o := range objs {
			if o["kind"] == "ConfigMap" && get(o, "metadata", "name") == name {
				m, _ := get(o, "data").(map[string]any)
				return m
			}
		}
		return nil
	}
	var out []podEnv
	for _, sec := range credentialSecrets {
		e := podEnv{name: sec.name, vars: map[string]string{}}
		for _, ev := range list(get(c, "env")) {
			n := str(get(ev, "name"))
			optional := func(r any) bool { return get(r, "optional") == true }
			switch {
			case get(ev, "valueFrom") == nil:
				e.vars[n] = fmt.Sprint(get(ev, "value"))
			case get(ev, "valueFrom", "configMapKeyRef") != nil:
				r := get(ev, "valueFrom", "configMapKeyRef")
				v, ok := configMap(str(get(r, "name")))[str(get(r, "key"))]
				if ok {
					e.vars[n] = fmt.Sprint(v)
				} else if !optional(r) {
					t.Errorf("%s: ConfigMap %v has no key %v", n, get(r, "name"), get(r, "key"))
				}
			case get(ev, "valueFrom", "secretKeyRef") != nil:
				r := get(ev, "valueFrom", "secretKeyRef")
				if slices.Contains(sec.keys, str(get(r, "key"))) {
					e.vars[n] = "from-secret-" + str(get(r, "key"))
				} else if !optional(r) {
					t.Errorf("%s: Secret key %v is required by the pod but not every credentials Secret has it", n, get(r, "key"))
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// podFiles is replaceFiles for a pod: the mount paths of its Secret volumes.
func podFiles(t *testing.T, name string, c *config.Config, dep map[string]any, certs map[string]string) {
	t.Helper()
	spec := get(dep, "spec", "template", "spec")
	secretVolumes := map[string]bool{}
	for _, v := range list(get(spec, "volumes")) {
		if get(v, "secret") != nil {
			secretVolumes[str(get(v, "name"))] = true
		}
	}
	var dirs []string
	for _, m := range list(get(list(get(spec, "containers"))[0], "volumeMounts")) {
		if secretVolumes[str(get(m, "name"))] {
			dirs = append(dirs, str(get(m, "mountPath")))
		}
	}
	replaceFiles(t, name, c, dirs, certs)
}

// checkPodSecrets: credentials reach the pod from Secrets only: no credential setting
// in the configuration file, a ConfigMap or a plain value.
func checkPodSecrets(t *testing.T, name, path string, objs []map[string]any, dep map[string]any) {
	t.Helper()
	var plain []string
	for _, ev := range list(get(list(get(dep, "spec", "template", "spec", "containers"))[0], "env")) {
		if get(ev, "valueFrom", "secretKeyRef") == nil {
			plain = append(plain, str(get(ev, "name")))
		}
	}
	if leaks := plainSecrets(plain); leaks != nil {
		t.Errorf("%s: credentials %v not from a Secret (secretKeyRef)", name, leaks)
	}
	for _, o := range objs {
		if o["kind"] != "ConfigMap" {
			continue
		}
		var keys []string
		for k := range get(o, "data").(map[string]any) {
			keys = append(keys, k)
		}
		if leaks := plainSecrets(keys); leaks != nil {
			t.Errorf("ConfigMap %v holds credentials %v", get(o, "metadata", "name"), leaks)
		}
	}
	file, err := config.Load(config.RoleDev, path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	walkSecrets(reflect.ValueOf(file), "", func(p string, s secret.Secret) {
		if s != "" {
			t.Errorf("%s: the configuration file sets the credential %s: put it in a Secret", name, p)
		}
	})
}

// checkK8sSearchSink: with each kind of credentials Secret, the transformer's file and
// environment validate and index into a search engine with those credentials, and the
// pod has no writable volume.
func checkK8sSearchSink(t *testing.T, name string, role config.Role, path string, dep map[string]any, envs []podEnv, certs map[string]string) {
	t.Helper()
	for _, e := range envs {
		c, err := config.Load(role, path, e.lookup)
		if err != nil {
			t.Errorf("%s with a %s Secret: %v", name, e.name, err)
			continue
		}
		podFiles(t, name, &c, dep, certs)
		if err := c.Validate(role); err != nil {
			t.Errorf("%s with a %s Secret does not validate: %v", name, e.name, err)
		}
		for _, p := range searchSinkProblems(c) {
			t.Errorf("%s: %s", name, p)
		}
		s := c.Sink.Search
		if (e.name == "basic auth") != (s.Username != "" && s.Password != "") || (e.name == "api key") != (s.APIKey != "") {
			t.Errorf("%s with a %s Secret: username %q, password set %v, api key set %v", name, e.name, s.Username, s.Password != "", s.APIKey != "")
		}
	}
	spec := get(dep, "spec", "template", "spec")
	for _, v := range list(get(spec, "volumes")) {
		if get(v, "configMap") == nil && get(v, "secret") == nil {
			t.Errorf("%s: volume %v: the transformer keeps nothing on local disk (config maps and secrets only)", name, v)
		}
	}
	if get(list(get(spec, "containers"))[0], "securityContext", "readOnlyRootFilesystem") != true {
		t.Errorf("%s: want readOnlyRootFilesystem", name)
	}
}

// checkGoMemLimit: a container's GOMEMLIMIT is 80-95% of its memory limit (sluice's
// own default from the cgroup is 90%): below the limit, so that the garbage collector
// works harder before the container would be killed, with room for what the Go
// runtime does not count.
func checkGoMemLimit(t *testing.T, name string, c any) {
	t.Helper()
	limit, err := k8sQuantity(str(get(c, "resources", "limits", "memory")))
	if err != nil {
		t.Errorf("%s: memory limit: %v", name, err)
		return
	}
	for _, e := range list(get(c, "env")) {
		if get(e, "name") != "GOMEMLIMIT" {
			continue
		}
		gml, err := goMemLimit(str(get(e, "value")))
		if err != nil {
			t.Errorf("%s: GOMEMLIMIT: %v", name, err)
			return
		}
		if r := float64(gml) / float64(limit); r < 0.8 || r > 0.95 {
			t.Errorf("%s: GOMEMLIMIT %v is %.0f%% of the memory limit %v, want 80-95%%", name, get(e, "value"), r*100, get(c, "resources", "limits", "memory"))
		}
	}
}

// k8sQuantity reads a memory quantity such as 512Mi, 1Gi or 1G in bytes.
func k8sQuantity(s string) (int64, error) {
	return withUnit(s, map[string]int64{"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12})
}

// goMemLimit reads a GOMEMLIMIT value such as 900MiB in bytes.
func goMemLimit(s string) (int64, error) {
	return withUnit(s, map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40})
}

func withUnit(s string, units map[string]int64) (int64, error) {
	m := regexp.MustCompile(`^([0-9]+)([A-Za-z]*)$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a quantity", s)
	}
	u, ok := units[m[2]]
	n, err := strconv.ParseInt(m[1], 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a quantity", s)
	}
	return n * u, nil
}

// ---------------------------------------------------------------- the checks bite

// TestDeploymentsThatStopIndexingFail: the checks above fail a deployment that stops
// indexing or puts a credential in the open: a transform task environment without its
// search sink is refused by sluice's own validation, one with the file sink set on
// purpose by searchSinkProblems, a Kubernetes transform file without the sink or with
// the file sink likewise, and a password in a plain environment by plainSecrets.
func TestDeploymentsThatStopIndexingFail(t *testing.T) {
	raw := loadCFN(t)
	sc := cfnScenarios()[0]
	params := cfnParams(raw, sc.params)
	td := get(renderCFN(t, raw, params), "Resources", "TransformTaskDefinition", "Properties")
	env := map[string]string{}
	for _, c := range list(get(td, "ContainerDefinitions")) {
		if get(c, "Name") != "sluice" {
			continue
		}
		for _, e := range list(get(c, "Environment")) {
			if n := str(get(e, "Name")); !strings.HasPrefix(n, "SLUICE_SINK_") || strings.HasPrefix(n, "SLUICE_SINK_DEAD_LETTERS_") {
				env[n] = resolveWith(get(e, "Value"), params)
			}
		}
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := config.Load(config.RoleTransform, "", lookup)
	if err == nil {
		err = c.Validate(config.RoleTransform)
	}
	if err == nil || !strings.Contains(err.Error(), "sink.kind: no sink configured") {
		t.Errorf("ECS transform without the search sink: Validate = %v, want the sink.kind problem", err)
	}
	env["SLUICE_SINK_KIND"] = "file"
	if c, err = config.Load(config.RoleTransform, "", lookup); err != nil || c.Validate(config.RoleTransform) != nil || searchSinkProblems(c) == nil {
		t.Errorf("ECS transform on the file sink: load %v, validate %v, problems %v; want valid but not indexing", err, c.Validate(config.RoleTransform), searchSinkProblems(c))
	}

	file, err := os.ReadFile("k8s/base/config/transform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k8sEnv := func(k string) (string, bool) {
		return map[string]string{"SLUICE_SINK_SEARCH_ADDRESSES": "[https://s:9200]"}[k], k == "SLUICE_SINK_SEARCH_ADDRESSES"
	}
	for what, edit := range map[string]func(string) string{
		"the file sink": func(s string) string { return strings.Replace(s, "  kind: search\n", "  kind: file\n", 1) },
		"no sink kind":  func(s string) string { return strings.Replace(s, "  kind: search\n", "", 1) },
	} {
		edited := edit(string(file))
		if edited == string(file) {
			t.Fatalf("k8s/base/config/transform.yaml: no 'kind: search' line under sink")
		}
		path := filepath.Join(t.TempDir(), "transform.yaml")
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(config.RoleTransform, path, k8sEnv)
		if err != nil {
			t.Fatal(err)
		}
		if searchSinkProblems(c) == nil {
			t.Errorf("Kubernetes transform with %s: no problem found", what)
		}
	}
	if got := plainSecrets([]string{"SLUICE_SINK_SEARCH_ENGINE", "SLUICE_SINK_SEARCH_PASSWORD", "SLUICE_STREAM_KINESIS_CREDENTIALS_SECRET_ACCESS_KEY"}); !slices.Equal(got,
		[]string{"SLUICE_SINK_SEARCH_PASSWORD", "SLUICE_STREAM_KINESIS_CREDENTIALS_SECRET_ACCESS_KEY"}) {
		t.Errorf("plainSecrets = %v", got)
	}
	if s := secretSettingVars(); !s["SLUICE_SINK_SEARCH_API_KEY"] || !s["SLUICE_SINK_SEARCH_PASSWORD"] || s["SLUICE_SINK_SEARCH_USERNAME"] {
		t.Errorf("secret settings %v", s)
	}
}
