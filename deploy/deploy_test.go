// Package deploy holds the deployment artifacts (container image, ECS CloudFormation,
// Kubernetes kustomize tree, local stack); this test checks them offline against the
// code they deploy: the AWS calls sluice makes, the settings it reads, its shutdown
// timings. scripts/deploy-check.sh runs the external validators (cfn-lint, hadolint,
// kustomize, kubernetes-validate) and this test on the built overlays.
package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-siem/sluice/config"
)

// ---------------------------------------------------------------- helpers

// cfnValue decodes a CloudFormation YAML node into plain Go values, turning the short
// intrinsic tags into their long form: !Ref X -> {"Ref": X}, !Sub s -> {"Fn::Sub": s}.
func cfnValue(n *yaml.Node) any {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnValue(n.Content[0])
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			m[n.Content[i].Value] = cfnValue(n.Content[i+1])
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, cfnValue(c))
		}
		v = l
	default:
		v = n.Value
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name == "GetAtt" {
			if s, ok := v.(string); ok {
				a, b, _ := strings.Cut(s, ".")
				v = []any{a, b}
			}
		}
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}
	}
	return v
}

func loadCFN(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile("ecs/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	return cfnValue(&n).(map[string]any)
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

func ref(v any) string { return str(get(v, "Ref")) }

// awsCalls lists the methods of the AWS API interfaces declared in a Go source file
// (those returning *awskinesis.XOutput, *dynamodb.XOutput or *s3.XOutput): the calls
// sluice makes.
func awsCalls(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	ast.Inspect(f, func(n ast.Node) bool {
		it, ok := n.(*ast.InterfaceType)
		if !ok {
			return true
		}
		for _, m := range it.Methods.List {
			ft, ok := m.Type.(*ast.FuncType)
			if !ok || ft.Results == nil || len(m.Names) == 0 {
				continue
			}
			if star, ok := ft.Results.List[0].Type.(*ast.StarExpr); ok {
				if sel, ok := star.X.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "Output") {
					if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "awskinesis" || pkg.Name == "dynamodb" || pkg.Name == "s3") {
						calls = append(calls, m.Names[0].Name)
					}
				}
			}
		}
		return true
	})
	return calls
}

func iamActions(prefix string, calls ...[]string) []string {
	var out []string
	for _, cs := range calls {
		for _, c := range cs {
			a := prefix + ":" + c
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// settingVars are the SLUICE_* variables sluice documents for a role.
func settingVars(t *testing.T, role config.Role) map[string]bool {
	t.Helper()
	doc, err := config.Document(config.Default(role))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\((SLUICE_[A-Z0-9_]+)\)`).FindAllSubmatch(doc, -1) {
		vars[string(m[1])] = true
	}
	return vars
}

func paramDefault(t *testing.T, tpl map[string]any, name string) int {
	t.Helper()
	n, err := strconv.Atoi(str(get(tpl, "Parameters", name, "Default")))
	if err != nil {
		t.Fatalf("parameter %s: default: %v", name, err)
	}
	return n
}

// ---------------------------------------------------------------- CloudFormation

// TestCloudFormation renders the template for each way of deploying it
// (cfnScenarios: the search engine's authentication, CA, a domain of the stack's own)
// as CloudFormation would, after checking its Rules accept those parameters, and checks
// the result against the code.
func TestCloudFormation(t *testing.T) {
	raw := loadCFN(t)
	for _, sc := range cfnScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			params := cfnParams(raw, sc.params)
			if err := cfnRules(raw, params); err != nil {
				t.Fatalf("the template's Rules refuse the parameters: %v", err)
			}
			checkCloudFormation(t, renderCFN(t, raw, params), params, sc)
		})
	}
}

func checkCloudFormation(t *testing.T, tpl map[string]any, params map[string]string, sc cfnScenario) {
	res := get(tpl, "Resources").(map[string]any)
	byType := func(typ string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for name, r := range res {
			if str(get(r, "Type")) == typ {
				out[name] = r.(map[string]any)
			}
		}
		return out
	}

	// Timings: the NLB drains a target for drain_delay + the in-flight deadline, and
	// ECS's stop timeout leaves sluice its whole shutdown.timeout.
	drain, shutdown := paramDefault(t, tpl, "DrainDelaySeconds"), paramDefault(t, tpl, "ShutdownTimeoutSeconds")
	if d := paramDefault(t, tpl, "DeregistrationDelaySeconds"); d != drain+shutdown {
		t.Errorf("DeregistrationDelaySeconds default %d, want drain %d + shutdown %d", d, drain, shutdown)
	}
	if s := paramDefault(t, tpl, "StopTimeoutSeconds"); s < shutdown+5 || s > 120 {
		t.Errorf("StopTimeoutSeconds default %d: want shutdown.timeout (%d) + a margin, at most Fargate's 120", s, shutdown)
	}
	if drain >= shutdown {
		t.Errorf("drain delay %d must be inside the shutdown timeout %d", drain, shutdown)
	}

	// Streams: one per routed log type plus the dead-letter stream, mode by parameter.
	streams := byType("AWS::Kinesis::Stream")
	routed := []string{"FirewallStream", "IdsStream", "WafStream", "DefaultStream"}
	for _, s := range append(slices.Clone(routed), "DeadLetterStream") {
		if streams[s] == nil {
			t.Errorf("no stream %s", s)
			continue
		}
		if ref(get(streams[s], "Properties", "StreamModeDetails", "StreamMode")) != "StreamMode" {
			t.Errorf("%s: stream mode is not the StreamMode parameter", s)
		}
	}
	shards := 0
	for _, p := range []string{"FirewallShards", "IdsShards", "WafShards", "DefaultShards"} {
		shards += paramDefault(t, tpl, p)
	}
	if m := paramDefault(t, tpl, "TransformMaxTasks"); m > shards {
		t.Errorf("TransformMaxTasks default %d exceeds the routed streams' %d shards", m, shards)
	}

	// Lease table: the key stream/kinesis/leases creates and checks, on-demand.
	attr := leaseKeyAttr(t)
	lt := get(res, "LeaseTable", "Properties")
	if str(get(lt, "BillingMode")) != "PAY_PER_REQUEST" {
		t.Error("lease table: want PAY_PER_REQUEST")
	}
	ks, ad := list(get(lt, "KeySchema")), list(get(lt, "AttributeDefinitions"))
	if len(ks) != 1 || str(get(ks[0], "AttributeName")) != attr || str(get(ks[0], "KeyType")) != "HASH" ||
		len(ad) != 1 || str(get(ad[0], "AttributeName")) != attr || str(get(ad[0], "AttributeType")) != "S" {
		t.Errorf("lease table key %v %v, want %s (S) HASH", ks, ad, attr)
	}

	// IAM: exactly the calls the code makes, on exactly these resources.
	root := ".."
	gatewayKinesis := iamActions("kinesis",
		awsCalls(t, filepath.Join(root, "stream/kinesis/producer.go")),
		awsCalls(t, filepath.Join(root, "stream/kinesis/shardmap.go")))
	transformKinesis := iamActions("kinesis", awsCalls(t, filepath.Join(root, "stream/kinesis/consumer.go")))
	leases := iamActions("dynamodb", awsCalls(t, filepath.Join(root, "stream/kinesis/leases/dynamodb.go")))
	if len(gatewayKinesis) < 2 || len(transformKinesis) < 3 || len(leases) < 5 {
		t.Fatalf("found too few AWS calls in the code: %v %v %v", gatewayKinesis, transformKinesis, leases)
	}
	streamArns := func() []string {
		var out []string
		for _, s := range routed {
			out = append(out, "GetAtt "+s+".Arn")
		}
		return out
	}()
	checkRole(t, res, "GatewayTaskRole", map[string][]string{strings.Join(gatewayKinesis, ","): streamArns})
	// The transformer also puts dead letters (sink/deadletter over the producer), and
	// with SigV4 makes the search sink's HTTP calls on its domain.
	transformWant := map[string][]string{
		strings.Join(transformKinesis, ","): streamArns,
		strings.Join(gatewayKinesis, ","):   {"GetAtt DeadLetterStream.Arn"},
		strings.Join(leases, ","):           {"GetAtt LeaseTable.Arn"},
	}
	if sc.sigv4 {
		transformWant[strings.Join(searchHTTPActions(t), ",")] = []string{searchDomainResource}
	}
	archiveOn := params["Archive"] == "true"
	if archiveOn {
		for acts, rs := range archiveIAM(t, awsCalls(t, filepath.Join(root, "sink/archive/upload.go"))) {
			transformWant[acts] = rs
		}
		if params["ArchiveKmsKeyArn"] != "" {
			transformWant["kms:Decrypt,kms:GenerateDataKey"] = []string{"Ref ArchiveKmsKeyArn"}
		}
	}
	checkRole(t, res, "TransformTaskRole", transformWant)
	checkArchiveBucket(t, res, params)

	// Task definitions: stop timeout, no data volumes, settings sluice knows that
	// validate for the role.
	certs := testCerts(t)
	var gateway config.Config
	var gatewayPorts []portKey
	for name, role := range map[string]config.Role{"GatewayTaskDefinition": config.RoleGateway, "TransformTaskDefinition": config.RoleTransform} {
		td := get(res, name, "Properties")
		checkTaskVolumes(t, name, get(td, "Volumes"))
		main := ecsSluice(t, res, name)
		if ref(main["StopTimeout"]) != "StopTimeoutSeconds" {
			t.Errorf("%s: StopTimeout %v, want Ref StopTimeoutSeconds", name, main["StopTimeout"])
		}
		if cmd := list(main["Command"]); len(cmd) != 1 || cmd[0] != string(role) {
			t.Errorf("%s: command %v, want [%s]", name, cmd, role)
		}
		if get(main, "LogConfiguration", "LogDriver") != "awslogs" {
			t.Errorf("%s: want awslogs", name)
		}
		hc := list(get(main, "HealthCheck", "Command"))
		if len(hc) < 3 || hc[0] != "CMD" || hc[1] != "/usr/local/bin/sluice" || hc[2] != "healthcheck" {
			t.Errorf("%s: health check %v, want the binary's healthcheck (no shell)", name, hc)
		}
		tc := ecsTaskConfig(t, name, main, role, params, certs)
		// Credentials: from Secrets Manager only, never in the plain environment.
		checkSecretsFromStore(t, name, main, tc.fromSecrets)
		checkContainerMemory(t, name, td, main)
		if tc.env["SLUICE_SHUTDOWN_TIMEOUT"] != fmt.Sprintf("%ds", shutdown) || tc.env["SLUICE_SHUTDOWN_DRAIN_DELAY"] != fmt.Sprintf("%ds", drain) {
			t.Errorf("%s: shutdown settings %q %q", name, tc.env["SLUICE_SHUTDOWN_TIMEOUT"], tc.env["SLUICE_SHUTDOWN_DRAIN_DELAY"])
		}
		err := tc.err
		if err == nil {
			err = tc.cfg.Validate(role)
		}
		if err != nil {
			t.Errorf("%s: settings do not validate for sluice %s: %v", name, role, err)
		}
		if role == config.RoleTransform {
			checkECSSearchSink(t, name, tc.cfg, tc.fromSecrets, sc)
			if want := map[bool]string{true: "stack-archivebucket"}[archiveOn]; tc.cfg.Sink.Archive.Bucket != want || (archiveOn && tc.cfg.Sink.Archive.Region != "eu-west-1") {
				t.Errorf("%s: archive bucket %q region %q, want bucket %q (Archive %s) in the stack's region", name, tc.cfg.Sink.Archive.Bucket, tc.cfg.Sink.Archive.Region, want, params["Archive"])
			}
		}
		ports := ecsPortMappings(t, name, main)
		checkPublished(t, name, ports, tc.cfg)
		if role == config.RoleGateway {
			gateway, gatewayPorts = tc.cfg, ports
		}
	}

	// The NLB: a listener for each port the gateway publishes, security groups and the
	// service's registrations to match; which receivers are exposed follows the
	// parameters.
	checkNLB(t, res, params, gateway, gatewayPorts)

	// Autoscaling: gateways on CPU, transformers on the streams' iterator age, bounded
	// by the parameters.
	for target, bounds := range map[string][2]string{
		"GatewayScalableTarget":   {"GatewayMinTasks", "GatewayMaxTasks"},
		"TransformScalableTarget": {"TransformMinTasks", "TransformMaxTasks"},
	} {
		p := get(res, target, "Properties")
		if ref(get(p, "MinCapacity")) != bounds[0] || ref(get(p, "MaxCapacity")) != bounds[1] {
			t.Errorf("%s: bounds %v..%v", target, get(p, "MinCapacity"), get(p, "MaxCapacity"))
		}
	}
	if get(res, "GatewayCpuScaling", "Properties", "TargetTrackingScalingPolicyConfiguration", "PredefinedMetricSpecification", "PredefinedMetricType") != "ECSServiceAverageCPUUtilization" {
		t.Error("gateway scaling: want target tracking on CPU")
	}
	for alarm, policy := range map[string]string{"IteratorAgeHighAlarm": "TransformScaleOut", "IteratorAgeLowAlarm": "TransformScaleIn"} {
		p := get(res, alarm, "Properties")
		if acts := list(get(p, "AlarmActions")); len(acts) != 1 || ref(acts[0]) != policy {
			t.Errorf("%s: actions %v, want %s", alarm, acts, policy)
		}
		var seen []string
		for _, m := range list(get(p, "Metrics")) {
			ms := get(m, "MetricStat", "Metric")
			if ms == nil {
				continue
			}
			if get(ms, "MetricName") != "GetRecords.IteratorAgeMilliseconds" {
				t.Errorf("%s: metric %v", alarm, get(ms, "MetricName"))
			}
			seen = append(seen, ref(get(list(get(ms, "Dimensions"))[0], "Value")))
		}
		sort.Strings(seen)
		want := slices.Clone(routed)
		sort.Strings(want)
		if !slices.Equal(seen, want) {
			t.Errorf("%s: streams %v, want %v", alarm, seen, want)
		}
	}
}

// ecsSluice is the sluice container of a rendered task definition.
func ecsSluice(t *testing.T, res map[string]any, td string) map[string]any {
	t.Helper()
	for _, c := range list(get(res, td, "Properties", "ContainerDefinitions")) {
		c = unIf(c)
		if str(get(c, "Name")) == "sluice" {
			return c.(map[string]any)
		}
	}
	t.Fatalf("%s: no sluice container", td)
	return nil
}

// ecsConfig is what a task's sluice container loads: its environment with parameters
// resolved and the variables ECS injects from Secrets Manager, and the configuration
// from it, with test certificates for the files on its volumes. err is config.Load's;
// the configuration is not validated.
type ecsConfig struct {
	env         map[string]string
	fromSecrets map[string]string
	cfg         config.Config
	err         error
}

func ecsTaskConfig(t *testing.T, name string, main map[string]any, role config.Role, params, certs map[string]string) ecsConfig {
	t.Helper()
	c := ecsConfig{env: map[string]string{}}
	known := settingVars(t, role)
	for _, e := range list(main["Environment"]) {
		n := str(get(e, "Name"))
		if !known[n] {
			t.Errorf("%s: %s is not a setting of sluice %s", name, n, role)
		}
		c.env[n] = resolveWith(get(e, "Value"), params)
	}
	c.fromSecrets = containerSecrets(t, name, main, known, c.env)
	c.cfg, c.err = config.Load(role, "", func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
	if c.err == nil {
		// Files on the task's volumes (TLS, the engine's CA) exist in the task: test
		// certificates stand in for them.
		mountedFiles(t, name, &c.cfg, main, certs)
	}
	return c
}

// ecsPortMappings are a container's port mappings, each once.
func ecsPortMappings(t *testing.T, name string, main map[string]any) []portKey {
	t.Helper()
	var out []portKey
	for _, pm := range list(main["PortMappings"]) {
		proto := strings.ToUpper(str(get(pm, "Protocol")))
		if proto == "" {
			proto = "TCP"
		}
		k := portKey{proto, intOf(get(pm, "ContainerPort"))}
		if slices.Contains(out, k) {
			t.Errorf("%s: %s mapped twice", name, k)
		}
		out = append(out, k)
	}
	return out
}

// checkNLB checks the rendered template's load balancer against the gateway's
// configuration and published ports:
//   - each listener forwards to one target group of the same protocol, whose port is a
//     port the gateway publishes, where a receiver listens; the listener's port is that
//     receiver's public port; TCP passes TLS through, UDP is for syslog.udp only;
//   - every published port has exactly one such target group and listener;
//   - each target group checks /readyz on 8080 (HTTPS with TLS) and drains for
//     DeregistrationDelaySeconds;
//   - the NLB's security group admits exactly the listeners' ports from ShipperCidr, the
//     tasks' exactly the target groups' ports from the NLB's security group;
//   - the service registers the container's port in each target group and waits for
//     every listener;
//   - the receivers exposed are those the parameters ask for: lumberjack, HTTP and
//     gRPC; syslog over TLS and RELP with TLS unless turned off, with the stack's
//     certificate and client CA and client_auth SyslogClientAuth; plain syslog over TCP
//     and UDP only with PlainSyslog.
func checkNLB(t *testing.T, res map[string]any, params map[string]string, gw config.Config, published []portKey) {
	t.Helper()
	tlsOn := params["TlsSecretArn"] != ""
	on := byPort(gw)
	var listenerPorts, tgPorts []portKey
	tgPort := map[string]portKey{}
	listeners := map[string]bool{}
	exposed := map[string]bool{}
	for name, l := range res {
		if str(get(l, "Type")) != "AWS::ElasticLoadBalancingV2::Listener" {
			continue
		}
		listeners[name] = true
		p := get(l, "Properties")
		lk := portKey{str(get(p, "Protocol")), intOf(get(p, "Port"))}
		listenerPorts = append(listenerPorts, lk)
		acts := list(get(p, "DefaultActions"))
		if len(acts) != 1 || str(get(acts[0], "Type")) != "forward" {
			t.Errorf("%s: want one forward action", name)
			continue
		}
		tgName := ref(get(acts[0], "TargetGroupArn"))
		tg := get(res, tgName, "Properties")
		tk := portKey{str(get(tg, "Protocol")), intOf(get(tg, "Port"))}
		tgPorts = append(tgPorts, tk)
		tgPort[tgName] = tk
		r, ok := on[tk]
		switch {
		case !ok:
			t.Errorf("%s: target group %s on %s, where sluice does not listen", name, tgName, tk)
		case lk.proto != tk.proto:
			t.Errorf("%s: %s listener to a %s target group", name, lk.proto, tk.proto)
		case lk.proto != r.proto || lk.proto != "TCP" && r.path != "syslog.udp":
			t.Errorf("%s: protocol %s for %s: want TCP (TLS passes through to sluice), UDP for syslog.udp only", name, lk.proto, r.path)
		case lk.port != publicPorts[r.path]:
			t.Errorf("%s: port %d for %s, want %d (deploy/README.md)", name, lk.port, r.path, publicPorts[r.path])
		default:
			exposed[r.path] = true
		}
		if str(get(tg, "TargetType")) != "ip" {
			t.Errorf("%s: target type %v, want ip", tgName, get(tg, "TargetType"))
		}
		wantHC := map[bool]string{true: "HTTPS", false: "HTTP"}[tlsOn]
		if str(get(tg, "HealthCheckPath")) != "/readyz" || str(get(tg, "HealthCheckPort")) != "8080" || str(get(tg, "HealthCheckProtocol")) != wantHC {
			t.Errorf("%s: health check %v %v on %v, want %s /readyz on 8080", tgName, get(tg, "HealthCheckProtocol"), get(tg, "HealthCheckPath"), get(tg, "HealthCheckPort"), wantHC)
		}
		var dereg, terminate string
		for _, a := range list(get(tg, "TargetGroupAttributes")) {
			switch str(get(a, "Key")) {
			case "deregistration_delay.timeout_seconds":
				dereg = ref(get(a, "Value"))
			case "deregistration_delay.connection_termination.enabled":
				terminate = str(get(a, "Value"))
			}
		}
		if dereg != "DeregistrationDelaySeconds" {
			t.Errorf("%s: deregistration delay %q, want Ref DeregistrationDelaySeconds", tgName, dereg)
		}
		// UDP flows end with the delay (moved to another task), not on a stopped one.
		if tk.proto == "UDP" && terminate != "true" {
			t.Errorf("%s: UDP without deregistration_delay.connection_termination.enabled true", tgName)
		}
	}
	sortKeys := func(k []portKey) []portKey {
		k = slices.Clone(k)
		slices.SortFunc(k, func(a, b portKey) int { return strings.Compare(a.String(), b.String()) })
		return k
	}
	if got, want := sortKeys(tgPorts), sortKeys(published); !slices.Equal(got, want) {
		t.Errorf("target groups (one per listener) on %v; the gateway publishes %v", got, want)
	}

	// Security groups: shippers to the listeners, the NLB to the target groups.
	sgPorts := func(sg, source string, want any) []portKey {
		var out []portKey
		rules := list(get(res, sg, "Properties", "SecurityGroupIngress"))
		// Rules of their own (made under a listener's condition) count for their group.
		for _, r := range res {
			p := get(r, "Properties")
			if str(get(r, "Type")) == "AWS::EC2::SecurityGroupIngress" && (ref(get(p, "GroupId")) == sg || slices.Equal(list(get(p, "GroupId", "Fn::GetAtt")), []any{sg, "GroupId"})) {
				rules = append(rules, p)
			}
		}
		for _, rule := range rules {
			k := portKey{strings.ToUpper(str(get(rule, "IpProtocol"))), intOf(get(rule, "FromPort"))}
			if intOf(get(rule, "ToPort")) != k.port {
				t.Errorf("%s: ports %v-%v: want one port per rule", sg, get(rule, "FromPort"), get(rule, "ToPort"))
			}
			if got := ref(get(rule, source)); got != want {
				t.Errorf("%s: %s from %s %v, want Ref %v", sg, k, source, get(rule, source), want)
			}
			out = append(out, k)
		}
		return out
	}
	if got, want := sortKeys(sgPorts("LoadBalancerSecurityGroup", "CidrIp", "ShipperCidr")), sortKeys(listenerPorts); !slices.Equal(got, want) {
		t.Errorf("LoadBalancerSecurityGroup admits %v, the listeners are on %v", got, want)
	}
	if got, want := sortKeys(sgPorts("GatewaySecurityGroup", "SourceSecurityGroupId", "LoadBalancerSecurityGroup")), sortKeys(tgPorts); !slices.Equal(got, want) {
		t.Errorf("GatewaySecurityGroup admits %v, the target groups (and health checks) are on %v", got, want)
	}

	// The service: each target group registered with its container port, after every
	// listener (directly, or through a resource that refers to it).
	svc := get(res, "GatewayService")
	registered := map[string]bool{}
	for _, lb := range list(get(svc, "Properties", "LoadBalancers")) {
		tg := ref(get(lb, "TargetGroupArn"))
		registered[tg] = true
		if k, ok := tgPort[tg]; !ok || str(get(lb, "ContainerName")) != "sluice" || intOf(get(lb, "ContainerPort")) != k.port {
			t.Errorf("GatewayService registers sluice:%v in %s, whose port is %v", get(lb, "ContainerPort"), tg, k)
		}
	}
	for tg := range tgPort {
		if !registered[tg] {
			t.Errorf("GatewayService does not register its tasks in %s", tg)
		}
	}
	waits := map[string]bool{}
	for _, d := range list(get(svc, "DependsOn")) {
		waits[str(d)] = true
		var refs func(v any)
		refs = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if r := ref(x); r != "" {
					waits[r] = true
				}
				for _, e := range x {
					refs(e)
				}
			case []any:
				for _, e := range x {
					refs(e)
				}
			}
		}
		refs(get(res, str(d), "Metadata"))
	}
	for l := range listeners {
		if !waits[l] {
			t.Errorf("GatewayService does not wait for %s (DependsOn): ECS refuses a target group without a listener", l)
		}
	}

	// What is exposed, by the parameters.
	plain := params["PlainSyslog"]
	want := map[string]bool{"lumberjack": true, "http": true, "grpc": true,
		"syslog.tls": tlsOn && params["SyslogTls"] == "true",
		"relp":       tlsOn && params["Relp"] == "true",
		"syslog.tcp": plain == "tcp" || plain == "tcp-and-udp",
		"syslog.udp": plain == "udp" || plain == "tcp-and-udp",
	}
	for path, w := range want {
		if exposed[path] != w {
			t.Errorf("%s exposed on the NLB: %v, want %v with TlsSecretArn %q, SyslogTls %s, Relp %s, PlainSyslog %s",
				path, exposed[path], w, params["TlsSecretArn"], params["SyslogTls"], params["Relp"], params["PlainSyslog"])
		}
	}
	if n := len(list(get(svc, "Properties", "LoadBalancers"))); n > maxServiceTargetGroups {
		t.Errorf("GatewayService: %d target groups; ECS attaches at most %d to a service", n, maxServiceTargetGroups)
	}
	// Syslog over TLS and RELP: the stack's certificate and client CA, SyslogClientAuth.
	for path, tc := range map[string]config.TLS{
		"syslog.tls": {CertFile: gw.Syslog.TLS.CertFile, KeyFile: gw.Syslog.TLS.KeyFile, ClientCAFile: gw.Syslog.TLS.ClientCAFile, ClientAuth: gw.Syslog.TLS.ClientAuth},
		"relp":       gw.RELP.TLS,
		"lumberjack": gw.Lumberjack.TLS,
	} {
		if !exposed[path] || !tlsOn {
			continue
		}
		auth := params["SyslogClientAuth"]
		if path == "lumberjack" {
			auth = params["LumberjackClientAuth"]
		}
		if tc.CertFile == "" || tc.KeyFile == "" || tc.ClientCAFile == "" || tc.ClientAuth != auth {
			t.Errorf("%s: TLS %+v, want the stack's certificate and client CA, client_auth %s", path, tc, auth)
		}
	}
}

// maxServiceTargetGroups is the most target groups ECS attaches to one service (with a
// load balancer of the Application or Network kind).
const maxServiceTargetGroups = 5

// TestCloudFormationListenerChoices deploys the template with every choice of listeners
// (TLS or not, SyslogTls, Relp, each PlainSyslog): the Rules refuse exactly the choices
// that would attach more target groups to the gateway service than ECS allows, and
// every choice they accept renders to the listeners it asks for (checkNLB's checks on
// the gateway's configuration).
func TestCloudFormationListenerChoices(t *testing.T) {
	raw := loadCFN(t)
	certs := testCerts(t)
	for _, tls := range []string{"", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:sluice-tls-AbCdEf"} {
		for _, syslogTLS := range []string{"true", "false"} {
			for _, relp := range []string{"true", "false"} {
				for _, plain := range list(get(raw, "Parameters", "PlainSyslog", "AllowedValues")) {
					set := map[string]string{"TlsSecretArn": tls, "SyslogTls": syslogTLS, "Relp": relp, "PlainSyslog": str(plain),
						"SearchEndpoints": "https://search.internal:9200", "SearchSecretArn": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:s-AbCdEf"}
					t.Run(fmt.Sprintf("tls=%v,syslogtls=%s,relp=%s,plain=%s", tls != "", syslogTLS, relp, plain), func(t *testing.T) {
						params := cfnParams(raw, set)
						res := get(renderCFN(t, raw, params), "Resources").(map[string]any)
						n := len(list(get(res, "GatewayService", "Properties", "LoadBalancers")))
						err := cfnRules(raw, params)
						if (err == nil) != (n <= maxServiceTargetGroups) {
							t.Fatalf("%d target groups, the Rules say %v: want them to refuse exactly more than %d", n, err, maxServiceTargetGroups)
						}
						if err != nil {
							return
						}
						const td = "GatewayTaskDefinition"
						main := ecsSluice(t, res, td)
						tc := ecsTaskConfig(t, td, main, config.RoleGateway, params, certs)
						if tc.err == nil {
							tc.err = tc.cfg.Validate(config.RoleGateway)
						}
						if tc.err != nil {
							t.Fatalf("the gateway's settings do not validate: %v", tc.err)
						}
						ports := ecsPortMappings(t, td, main)
						checkPublished(t, td, ports, tc.cfg)
						checkNLB(t, res, params, tc.cfg, ports)
					})
				}
			}
		}
	}
}

// ---------------------------------------------------------------- receivers

// receiver is one listener of sluice's configuration: its section, address and
// transport.
type receiver struct {
	path  string // the section: "lumberjack", "syslog.udp"
	addr  string // empty: off
	proto string // TCP or UDP
}

// receivers are every listener a configuration has, on or off.
// TestReceiversCoverTheSettings checks that no listen address is missing.
func receivers(c config.Config) []receiver {
	return []receiver{
		{"lumberjack", c.Lumberjack.Addr, "TCP"},
		{"http", c.HTTP.Addr, "TCP"},
		{"grpc", c.GRPC.Addr, "TCP"},
		{"syslog.tls", c.Syslog.TLS.Addr, "TCP"},
		{"relp", c.RELP.Addr, "TCP"},
		{"syslog.tcp", c.Syslog.TCP.Addr, "TCP"},
		{"syslog.udp", c.Syslog.UDP.Addr, "UDP"},
	}
}

// publicPorts are the load balancer's port of each receiver, in the ECS stack and the
// Kubernetes Service alike (deploy/README.md, "Syslog and RELP"): what shippers are
// told. The container's port may differ (sluice runs unprivileged).
var publicPorts = map[string]int{
	"lumberjack": 5044, "http": 8080, "grpc": 9090,
	"syslog.tls": 6514, "relp": 2514,
	"syslog.tcp": 601, "syslog.udp": 514,
}

// key is the protocol and port a receiver listens on; ok is false when it is off.
func (r receiver) key() (portKey, bool) {
	_, port, err := net.SplitHostPort(r.addr)
	n, perr := strconv.Atoi(port)
	return portKey{r.proto, n}, r.addr != "" && err == nil && perr == nil
}

// allInterfaces reports whether the receiver listens beyond the loopback interface.
func (r receiver) allInterfaces() bool {
	host, _, _ := net.SplitHostPort(r.addr)
	ip := net.ParseIP(host)
	return r.addr != "" && (host == "" || ip != nil && ip.IsUnspecified())
}

// byPort are the receivers that are on, by protocol and port.
func byPort(c config.Config) map[portKey]receiver {
	out := map[portKey]receiver{}
	for _, r := range receivers(c) {
		if k, ok := r.key(); ok {
			out[k] = r
		}
	}
	return out
}

// TestReceiversCoverTheSettings: receivers and publicPorts know every listen address
// sluice has (a new receiver's address setting fails here until the deployments'
// checks know it).
func TestReceiversCoverTheSettings(t *testing.T) {
	var want, got []string
	for v := range settingVars(t, config.RoleGateway) {
		if strings.HasSuffix(v, "_ADDR") {
			want = append(want, v)
		}
	}
	for _, r := range receivers(config.Default(config.RoleGateway)) {
		got = append(got, config.EnvName(r.path+".addr"))
		if publicPorts[r.path] == 0 {
			t.Errorf("no public port for %s", r.path)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("receivers() knows the listen addresses %v, sluice has %v", got, want)
	}
}

// checkPublished checks a container's published ports against its configuration: the
// receiver of every published port listens on all interfaces (sluice listens on
// 127.0.0.1 unless told otherwise, where nothing outside the container reaches it), and
// every receiver listening on all interfaces is published (or it listens for nothing).
func checkPublished(t *testing.T, name string, ports []portKey, cfg config.Config) {
	t.Helper()
	if len(ports) == 0 {
		t.Errorf("%s: publishes no port", name)
	}
	on := byPort(cfg)
	for _, p := range ports {
		r, ok := on[p]
		if !ok || !r.allInterfaces() {
			t.Errorf("%s: publishes %s, whose listener is %q: want 0.0.0.0:%d (sluice listens on 127.0.0.1 unless told otherwise)", name, p, r.addr, p.port)
		}
	}
	for k, r := range on {
		if r.allInterfaces() && !slices.Contains(ports, k) {
			t.Errorf("%s: %s listens on %s (%s) but the container does not publish %s", name, r.path, r.addr, r.proto, k)
		}
	}
}

// unIf takes the true branch of a Fn::If.
func unIf(v any) any {
	if l := list(get(v, "Fn::If")); len(l) == 3 {
		return l[1]
	}
	return v
}

// resolveWith renders a value with the values of params (parameters and pseudo
// parameters) and made-up names for other references: !Ref FirewallStream ->
// "stack-firewallstream", !Sub "${X}s" with X's value.
func resolveWith(v any, params map[string]string) string {
	if s, ok := v.(string); ok {
		return s
	}
	fake := func(name string) string {
		if p, ok := params[name]; ok {
			return p
		}
		switch name {
		case "DrainDelaySeconds":
			return "5"
		case "ShutdownTimeoutSeconds":
			return "30"
		case "AWS::Region":
			return "eu-west-1"
		case "ApiKeys":
			return `[{name: test, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, types: ["*"]}]`
		}
		return "stack-" + strings.ToLower(name)
	}
	if r := ref(v); r != "" {
		return fake(r)
	}
	if s := str(get(v, "Fn::Sub")); s != "" {
		return regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(s, func(m string) string { return fake(m[2 : len(m)-1]) })
	}
	return fmt.Sprint(v)
}

func checkRole(t *testing.T, res map[string]any, name string, want map[string][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, p := range list(get(res, name, "Properties", "Policies")) {
		for _, st := range list(get(p, "PolicyDocument", "Statement")) {
			if get(st, "Effect") != "Allow" {
				t.Errorf("%s: unexpected effect %v", name, get(st, "Effect"))
			}
			var acts []string
			for _, a := range list(get(st, "Action")) {
				if strings.Contains(str(a), "*") {
					t.Errorf("%s: wildcard action %v", name, a)
				}
				acts = append(acts, str(a))
			}
			sort.Strings(acts)
			var rs []string
			rl := list(get(st, "Resource"))
			if rl == nil {
				rl = []any{get(st, "Resource")}
			}
			for _, r := range rl {
				if sub := str(get(r, "Fn::Sub")); sub != "" {
					rs = append(rs, "Sub "+sub)
					continue
				}
				if p := ref(r); strings.HasSuffix(p, "KmsKeyArn") {
					rs = append(rs, "Ref "+p) // a customer-managed key, by parameter
					continue
				}
				ga := list(get(r, "Fn::GetAtt"))
				if len(ga) != 2 {
					t.Errorf("%s: resource %v is not an attribute of a stack resource", name, r)
					continue
				}
				rs = append(rs, fmt.Sprintf("GetAtt %s.%s", ga[0], ga[1]))
			}
			got[strings.Join(acts, ",")] = rs
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: statements %v, want %v", name, got, want)
	}
	for acts, rs := range want {
		if !slices.Equal(got[acts], rs) {
			t.Errorf("%s: actions %s on %v, want on %v (all statements: %v)", name, acts, got[acts], rs, got)
		}
	}
	if managed := get(res, name, "Properties", "ManagedPolicyArns"); managed != nil {
		t.Errorf("%s: managed policies %v: least privilege is the inline policy", name, managed)
	}
}

// leaseKeyAttr reads stream/kinesis/leases's lease key attribute name from its source.
func leaseKeyAttr(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../stream/kinesis/leases/dynamodb.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`attrKey\s*=\s*"([^"]+)"`).FindSubmatch(data)
	if m == nil {
		t.Fatal("stream/kinesis/leases: no attrKey constant")
	}
	return string(m[1])
}

// ---------------------------------------------------------------- Dockerfile

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{
		"CGO_ENABLED=0",
		`-X main.version=${VERSION}`,
		"-trimpath",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"EXPOSE 8080 9090 5044 6514 2514 5514/tcp 5514/udp 5601",
		`CMD ["/usr/local/bin/sluice", "healthcheck"`,
		`ENTRYPOINT ["/usr/local/bin/sluice"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(df, "\nFROM "); n != 2 {
		t.Errorf("%d stages, want 2 (build, runtime)", n)
	}
	// deploy-check.sh builds with the Dockerfile's flags: keep them equal.
	check, err := os.ReadFile("../scripts/deploy-check.sh")
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`go build (-trimpath -ldflags "-s -w -X main.version=)`).FindStringSubmatch(df)
	if flags == nil || !bytes.Contains(check, []byte(flags[1])) {
		t.Errorf("scripts/deploy-check.sh does not build with the Dockerfile's flags %q", flags)
	}
}

// ---------------------------------------------------------------- Kubernetes

// k8sDocs reads every object of a multi-document YAML stream.
func k8sDocs(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(r)
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

// TestKubernetes checks the output of `kustomize build` for each overlay, which
// scripts/deploy-check.sh writes to $SLUICE_DEPLOY_K8S_DIR/<overlay>.yaml; without it,
// only the base's files (no kustomize) are checked.
func TestKubernetes(t *testing.T) {
	dir := os.Getenv("SLUICE_DEPLOY_K8S_DIR")
	if dir == "" {
		var objs []map[string]any
		for _, f := range []string{"k8s/base/serviceaccounts.yaml", "k8s/base/gateway.yaml", "k8s/base/transform.yaml"} {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, k8sDocs(t, fh)...)
			fh.Close()
		}
		// The ConfigMaps of the base's configMapGenerator (files and literals), as
		// kustomize makes them, less the content hash.
		objs = append(objs, generatedConfigMaps(t, "k8s/base")...)
		checkK8s(t, objs, false)
		t.Log("SLUICE_DEPLOY_K8S_DIR not set: checked the base's files only (scripts/deploy-check.sh checks the built overlays)")
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no built overlays in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			checkK8s(t, k8sDocs(t, fh), true)
		})
	}
}

func anyMap(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func intOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case string:
		i, _ := strconv.Atoi(n)
		return i
	}
	return -1
}

func checkK8s(t *testing.T, objs []map[string]any, built bool) {
	t.Helper()
	find := func(kind, prefix string) map[string]any {
		for _, o := range objs {
			if o["kind"] == kind && strings.HasPrefix(str(get(o, "metadata", "name")), prefix) {
				return o
			}
		}
		t.Fatalf("no %s %s", kind, prefix)
		return nil
	}
	cm := find("ConfigMap", "sluice-config")
	if built && !regexp.MustCompile(`^sluice-config-[a-z0-9]+$`).MatchString(str(get(cm, "metadata", "name"))) {
		t.Errorf("config map %v: want kustomize's content hash suffix (rollouts on config change)", get(cm, "metadata", "name"))
	}
	certs := testCerts(t)
	for _, role := range []config.Role{config.RoleGateway, config.RoleTransform} {
		name := "sluice-" + string(role)
		file := string(role) + ".yaml"
		// The role's configuration loads and validates (TLS files replaced by test ones).
		pc := podConfig(t, objs, role, certs)
		dep, path, envs, cfg := pc.dep, pc.path, pc.envs, pc.cfg
		if err := cfg.Validate(role); err != nil {
			t.Errorf("%s does not validate for sluice %s: %v", file, role, err)
		}
		checkPodSecrets(t, name, path, objs, dep)
		checkGoMemLimit(t, name, list(get(dep, "spec", "template", "spec", "containers"))[0])
		if role == config.RoleTransform {
			checkK8sSearchSink(t, name, role, path, dep, envs, certs)
		}
		checkPublished(t, name, podPorts(t, dep), cfg)

		d := find("Deployment", name)
		spec := get(d, "spec", "template", "spec")
		grace := intOf(get(spec, "terminationGracePeriodSeconds"))
		timeout := int(cfg.Shutdown.Timeout / time.Second)
		if grace < timeout+5 {
			t.Errorf("%s: terminationGracePeriodSeconds %d < shutdown.timeout %ds + 5", name, grace, timeout)
		}
		if get(spec, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: want runAsNonRoot", name)
		}
		if get(spec, "serviceAccountName") != name {
			t.Errorf("%s: service account %v", name, get(spec, "serviceAccountName"))
		}
		sa := find("ServiceAccount", name)
		if !strings.HasPrefix(str(get(sa, "metadata", "annotations", "eks.amazonaws.com/role-arn")), "arn:aws:iam::") {
			t.Errorf("%s: service account without an IRSA role", name)
		}
		c := list(get(spec, "containers"))[0]
		if args := list(get(c, "args")); len(args) == 0 || args[0] != string(role) {
			t.Errorf("%s: args %v", name, args)
		}
		if get(c, "lifecycle") != nil {
			t.Errorf("%s: lifecycle hooks need a shell the image does not have", name)
		}
		if get(c, "livenessProbe", "httpGet", "path") != "/healthz" || get(c, "readinessProbe", "httpGet", "path") != "/readyz" {
			t.Errorf("%s: probes: liveness %v readiness %v", name, get(c, "livenessProbe", "httpGet", "path"), get(c, "readinessProbe", "httpGet", "path"))
		}
		scheme := str(get(c, "readinessProbe", "httpGet", "scheme"))
		if tlsOn := cfg.HTTP.TLS.CertFile != ""; tlsOn != (scheme == "HTTPS") {
			t.Errorf("%s: probe scheme %q but HTTP TLS is %v", name, scheme, tlsOn)
		}
		for _, r := range []string{"requests/cpu", "requests/memory", "limits/memory"} {
			k := strings.Split(r, "/")
			if get(c, "resources", k[0], k[1]) == nil {
				t.Errorf("%s: no resources.%s", name, r)
			}
		}
		pdb := find("PodDisruptionBudget", name)
		if get(pdb, "spec", "selector", "matchLabels", "app.kubernetes.io/component") != string(role) {
			t.Errorf("%s: PDB selector %v", name, get(pdb, "spec", "selector"))
		}
		if role == config.RoleGateway {
			checkGatewayService(t, find("Service", name), find("HorizontalPodAutoscaler", name), cfg, dep)
		} else {
			checkScaledObject(t, find("ScaledObject", name), cfg)
			so, env := find("ScaledObject", name), find("ConfigMap", "sluice-env")
			for _, tr := range list(get(so, "spec", "triggers")) {
				if r := get(tr, "metadata", "awsRegion"); r != get(env, "data", "AWS_REGION") {
					t.Errorf("KEDA trigger region %v, the pods' AWS_REGION %v", r, get(env, "data", "AWS_REGION"))
				}
			}
		}
	}
}

// podConfig is what a role's pod loads: the role's file from the ConfigMap its config
// volume mounts plus its container's environment (ConfigMap keys, and a credentials
// Secret of each kind the manifests accept: cfg is loaded with the first), with test
// certificates for the files on its Secret volumes. cfg is not validated.
type k8sConfig struct {
	dep  map[string]any
	path string // the role's file, written to a temporary directory
	envs []podEnv
	cfg  config.Config
}

func podConfig(t *testing.T, objs []map[string]any, role config.Role, certs map[string]string) k8sConfig {
	t.Helper()
	name, file := "sluice-"+string(role), string(role)+".yaml"
	var pc k8sConfig
	for _, d := range kindOf(objs, "Deployment") {
		if objName(d) == name {
			pc.dep = d
		}
	}
	if pc.dep == nil {
		t.Fatalf("no Deployment %s", name)
	}
	var cmName string
	for _, v := range list(get(pc.dep, "spec", "template", "spec", "volumes")) {
		if get(v, "name") == "config" {
			cmName = str(get(v, "configMap", "name"))
		}
	}
	var data any
	for _, cm := range kindOf(objs, "ConfigMap") {
		if objName(cm) == cmName {
			data = get(cm, "data", file)
		}
	}
	if data == nil {
		t.Fatalf("%s: no %s in the ConfigMap %q of its config volume", name, file, cmName)
	}
	pc.path = filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(pc.path, []byte(str(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	pc.envs = podEnvironments(t, objs, pc.dep)
	cfg, err := config.Load(role, pc.path, pc.envs[0].lookup)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	podFiles(t, name, &cfg, pc.dep, certs)
	pc.cfg = cfg
	return pc
}

// podPorts are the ports a Deployment's first container publishes.
func podPorts(t *testing.T, dep map[string]any) []portKey {
	t.Helper()
	var out []portKey
	for _, p := range list(get(list(get(dep, "spec", "template", "spec", "containers"))[0], "ports")) {
		proto := str(get(p, "protocol"))
		if proto == "" {
			proto = "TCP"
		}
		k := portKey{proto, intOf(get(p, "containerPort"))}
		if slices.Contains(out, k) {
			t.Errorf("%s: publishes %s twice", objName(dep), k)
		}
		out = append(out, k)
	}
	return out
}

// checkGatewayService checks the gateway's NLB Service: AWS Load Balancer Controller
// annotations (IP targets, /readyz health checks with the drain-matching deregistration
// delay), and its ports against the pods': each Service port leads to a published
// container port of its protocol, where a receiver listens, on that receiver's public
// port (deploy/README.md); every published port is behind the Service.
func checkGatewayService(t *testing.T, svc, hpa map[string]any, cfg config.Config, dep map[string]any) {
	t.Helper()
	if get(svc, "spec", "type") != "LoadBalancer" {
		t.Errorf("service type %v", get(svc, "spec", "type"))
	}
	ann := func(k string) string {
		return str(get(svc, "metadata", "annotations", "service.beta.kubernetes.io/aws-load-balancer-"+k))
	}
	if ann("type") != "external" || ann("nlb-target-type") != "ip" || ann("healthcheck-path") != "/readyz" || ann("healthcheck-port") != "8080" {
		t.Errorf("NLB annotations: %v", get(svc, "metadata", "annotations"))
	}
	wantProto := "HTTP"
	if cfg.HTTP.TLS.CertFile != "" {
		wantProto = "HTTPS"
	}
	if ann("healthcheck-protocol") != wantProto {
		t.Errorf("NLB health check protocol %q, want %s", ann("healthcheck-protocol"), wantProto)
	}
	m := regexp.MustCompile(`deregistration_delay.timeout_seconds=(\d+)`).FindStringSubmatch(ann("target-group-attributes"))
	want := int((cfg.Shutdown.DrainDelay + cfg.Shutdown.Timeout) / time.Second)
	if m == nil || intOf(m[1]) != want {
		t.Errorf("deregistration delay %v, want drain_delay + timeout = %d", m, want)
	}
	named := map[string]portKey{}
	for _, p := range list(get(list(get(dep, "spec", "template", "spec", "containers"))[0], "ports")) {
		proto := str(get(p, "protocol"))
		if proto == "" {
			proto = "TCP"
		}
		named[str(get(p, "name"))] = portKey{proto, intOf(get(p, "containerPort"))}
	}
	published := podPorts(t, dep)
	on := byPort(cfg)
	var behind []portKey
	for _, p := range list(get(svc, "spec", "ports")) {
		proto := str(get(p, "protocol"))
		if proto == "" {
			proto = "TCP"
		}
		target := portKey{proto, intOf(get(p, "targetPort"))}
		if k, ok := named[str(get(p, "targetPort"))]; ok {
			target = k
		}
		if k, ok := named[str(get(p, "targetPort"))]; ok && k.proto != proto {
			t.Errorf("service port %v: %s to the %s container port %v", get(p, "name"), proto, k.proto, get(p, "targetPort"))
		}
		behind = append(behind, target)
		r, ok := on[target]
		switch {
		case !slices.Contains(published, target):
			t.Errorf("service port %v: to %s, which the pods do not publish", get(p, "name"), target)
		case !ok:
			t.Errorf("service port %v: to %s, where sluice does not listen", get(p, "name"), target)
		case proto != "TCP" && r.path != "syslog.udp":
			t.Errorf("service port %v: %s for %s: want TCP (TLS passes through to sluice), UDP for syslog.udp only", get(p, "name"), proto, r.path)
		case intOf(get(p, "port")) != publicPorts[r.path]:
			t.Errorf("service port %v: %v for %s, want %d (deploy/README.md)", get(p, "name"), get(p, "port"), r.path, publicPorts[r.path])
		}
	}
	for _, k := range published {
		if !slices.Contains(behind, k) {
			t.Errorf("the pods publish %s, which no port of Service %s leads to", k, objName(svc))
		}
	}
	// UDP flows end with the deregistration delay (moved to another pod), not on a
	// stopped one.
	if slices.ContainsFunc(behind, func(k portKey) bool { return k.proto == "UDP" }) &&
		!strings.Contains(ann("target-group-attributes"), "deregistration_delay.connection_termination.enabled=true") {
		t.Errorf("Service %s has a UDP port: want deregistration_delay.connection_termination.enabled=true in its target group attributes", objName(svc))
	}
	if get(hpa, "spec", "scaleTargetRef", "name") != "sluice-gateway" || get(list(get(hpa, "spec", "metrics"))[0], "resource", "name") != "cpu" {
		t.Errorf("HPA: %v", get(hpa, "spec"))
	}
	if intOf(get(hpa, "spec", "minReplicas")) < 1 || intOf(get(hpa, "spec", "maxReplicas")) < intOf(get(hpa, "spec", "minReplicas")) {
		t.Errorf("HPA bounds %v..%v", get(hpa, "spec", "minReplicas"), get(hpa, "spec", "maxReplicas"))
	}
}

func checkScaledObject(t *testing.T, so map[string]any, cfg config.Config) {
	t.Helper()
	if get(so, "apiVersion") != "keda.sh/v1alpha1" || get(so, "spec", "scaleTargetRef", "name") != "sluice-transform" {
		t.Errorf("ScaledObject target %v", get(so, "spec", "scaleTargetRef"))
	}
	lo, hi := intOf(get(so, "spec", "minReplicaCount")), intOf(get(so, "spec", "maxReplicaCount"))
	if lo < 1 || hi < lo {
		t.Errorf("ScaledObject bounds %d..%d", lo, hi)
	}
	var streams []string
	for _, tr := range list(get(so, "spec", "triggers")) {
		md := get(tr, "metadata")
		if get(tr, "type") != "aws-cloudwatch" || get(md, "metricName") != "GetRecords.IteratorAgeMilliseconds" ||
			get(md, "namespace") != "AWS/Kinesis" || get(md, "dimensionName") != "StreamName" || get(md, "metricStat") != "Maximum" {
			t.Errorf("trigger %v", tr)
		}
		if get(tr, "authenticationRef", "name") == nil {
			t.Errorf("trigger without authenticationRef")
		}
		streams = append(streams, str(get(md, "dimensionValue")))
	}
	want := []string{cfg.Gateway.Routing.DefaultStream}
	for _, s := range cfg.Gateway.Routing.Streams {
		want = append(want, s)
	}
	sort.Strings(want)
	sort.Strings(streams)
	if !slices.Equal(streams, slices.Compact(want)) {
		t.Errorf("ScaledObject watches %v, the transformer reads %v", streams, want)
	}
}

// testCerts writes a self-signed certificate, key and CA for configurations that
// name TLS files.
func testCerts(t *testing.T) map[string]string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice"}, DNSNames: []string{"sluice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := map[string]string{}
	for name, blk := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "ca.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "PRIVATE KEY", Bytes: kb}} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}
