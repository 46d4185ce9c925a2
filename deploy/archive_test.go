package deploy

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// s3Permissions maps the S3 calls sink/archive makes to the IAM action that allows
// each, and whether the action is on the bucket (else on its objects). A call missing
// here fails the test: map it, then grant it.
var s3Permissions = map[string]struct {
	action   string
	onBucket bool
}{
	"PutObject":               {"s3:PutObject", false},
	"CreateMultipartUpload":   {"s3:PutObject", false},
	"UploadPart":              {"s3:PutObject", false},
	"CompleteMultipartUpload": {"s3:PutObject", false},
	"AbortMultipartUpload":    {"s3:AbortMultipartUpload", false},
	"ListObjectsV2":           {"s3:ListBucket", true},
}

// archiveIAM is the transform role's archive statements for the calls of the code,
// as checkRole prints them: actions on the objects, actions on the bucket.
func archiveIAM(t *testing.T, calls []string) map[string][]string {
	t.Helper()
	if len(calls) < 4 {
		t.Fatalf("found too few S3 calls in sink/archive: %v", calls)
	}
	var objects, bucket []string
	for _, c := range calls {
		p, ok := s3Permissions[c]
		if !ok {
			t.Fatalf("sink/archive calls S3 %s: add its IAM action to s3Permissions and the transform role", c)
		}
		l := &objects
		if p.onBucket {
			l = &bucket
		}
		if !slices.Contains(*l, p.action) {
			*l = append(*l, p.action)
		}
	}
	sort.Strings(objects)
	sort.Strings(bucket)
	return map[string][]string{
		strings.Join(objects, ","): {"Sub ${ArchiveBucket.Arn}/*"},
		strings.Join(bucket, ","):  {"GetAtt ArchiveBucket.Arn"},
	}
}

// checkArchiveBucket checks the data lake's bucket: present exactly when Archive is
// on, never public, encrypted, TLS only, kept when the stack goes, and a lifecycle
// that tiers, expires and cleans up incomplete multipart uploads, all from the
// parameters.
func checkArchiveBucket(t *testing.T, res map[string]any, params map[string]string) {
	t.Helper()
	b, ok := res["ArchiveBucket"]
	if on := params["Archive"] == "true"; ok != on {
		t.Fatalf("archive bucket present %v with Archive %s", ok, params["Archive"])
	}
	if !ok {
		if _, pol := res["ArchiveBucketPolicy"]; pol {
			t.Error("a bucket policy without the archive bucket")
		}
		return
	}
	if get(b, "DeletionPolicy") != "Retain" || get(b, "UpdateReplacePolicy") != "Retain" {
		t.Error("archive bucket: want DeletionPolicy and UpdateReplacePolicy Retain (years of raw events)")
	}
	p := get(b, "Properties")
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if get(p, "PublicAccessBlockConfiguration", k) != "true" {
			t.Errorf("archive bucket: %s is not true", k)
		}
	}
	if len(list(get(p, "BucketEncryption", "ServerSideEncryptionConfiguration"))) != 1 {
		t.Error("archive bucket: no default encryption")
	}
	var tier, abort bool
	for _, r := range list(get(p, "LifecycleConfiguration", "Rules")) {
		if get(r, "Status") != "Enabled" {
			continue
		}
		if d := get(r, "AbortIncompleteMultipartUpload", "DaysAfterInitiation"); d != nil {
			abort = str(d) == "1"
		}
		tr := list(get(r, "Transitions"))
		if len(tr) == 1 && ref(get(tr[0], "StorageClass")) == "ArchiveTransitionClass" &&
			ref(get(tr[0], "TransitionInDays")) == "ArchiveTransitionDays" && ref(get(r, "ExpirationInDays")) == "ArchiveExpirationDays" {
			tier = true
		}
	}
	if !tier || !abort {
		t.Errorf("archive bucket lifecycle: tier and expire by the parameters %v, abort incomplete uploads after a day %v", tier, abort)
	}
	pol := get(res, "ArchiveBucketPolicy", "Properties")
	if ref(get(pol, "Bucket")) != "ArchiveBucket" {
		t.Fatal("archive bucket: no bucket policy")
	}
	st := list(get(pol, "PolicyDocument", "Statement"))
	if len(st) != 1 || get(st[0], "Effect") != "Deny" || get(st[0], "Condition", "Bool", "aws:SecureTransport") != "false" {
		t.Errorf("archive bucket policy %v: want one statement denying requests without TLS", st)
	}
}
