package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/config"
)

// secretFragments are distinctive parts of the malformed secrets below; none
// may appear in any error or warning.
var secretFragments = []string{"Pr0d", "S3cr", "Q7zK", "S3cretPart"}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, f := range secretFragments {
		if strings.Contains(text, f) {
			t.Fatalf("%s shows part of a secret (%q): %s", what, f, text)
		}
	}
}

// Every kind of malformed secret gives an error that names the key and the
// line, and never a part of the value.
func TestMalformedSecretsAreNeverEchoed(t *testing.T) {
	_, y := base(t)
	t.Setenv("DS_SECRET", "Pr0d-S3cr${et-Q7zK")
	t.Setenv("DS_URL_PW", "Pr0d S3cr%et-Q7zK")
	auth := "auth: {type: bearer, token: abc}"
	cases := []struct {
		name, old, new, want string
	}{
		{"unclosed ${ in a literal secret", auth, "auth: {type: bearer, token: \"Pr0d-S3cr${et-Q7zK\"}", "line 6: targets.docs.auth.token: unclosed ${"},
		{"unclosed ${ in a block secret", auth, "auth:\n      type: basic\n      username: u\n      password: Pr0d-S3cr${et-Q7zK", "line 9: targets.docs.auth.password: unclosed ${"},
		{"unset ${X} inside a secret", auth, "auth: {type: bearer, token: \"Pr0d-${S3cretPart}-Q7zK\"}", "line 6: targets.docs.auth.token: refers to an environment variable that is not set"},
		{"secret pasted into *_file", auth, "auth: {type: bearer, token_file: \"Pr0d-S3cr${et-Q7zK\"}", "line 6: targets.docs.auth.token_file: unclosed ${"},
		{"secret pasted into *_file, no ${", auth, "auth: {type: bearer, token_file: Pr0d-S3cret-Q7zK}", "line 6: targets.docs.auth.token_file: cannot read the secret file: no such file or directory"},
		{"${ENV} secret in a duration", "chunk_threshold: 10MiB", "timeout: ${DS_SECRET}", "line 7: targets.docs.timeout: bad duration"},
		{"${ENV} secret in a size", "chunk_threshold: 10MiB", "chunk_threshold: ${DS_SECRET}", "line 7: targets.docs.chunk_threshold: bad size"},
		{"${ENV} secret in an int", "state_dir:", "workers: ${DS_SECRET}\nstate_dir:", "line 1: workers: cannot unmarshal !!str into int"},
		{"${ENV} password in a URL", "url: https://example.com", "url: \"https://svc:${DS_URL_PW}@example.com\"", "line 5: targets.docs.url: not an http(s) URL"},
		{"literal password in a URL", "url: https://example.com", "url: \"https://svc:Pr0d S3cr%et-Q7zK@example.com\"", "line 5: targets.docs.url: not an http(s) URL"},
		{"${ENV} secret over plain http", "url: https://example.com", "url: http://docs.example.com\n    auth: {type: bearer, token: \"${DS_SECRET}\"}", "targets.docs.url: credentials over plain http:// to docs.example.com"},
		{"pasted into a plain key", auth, "auth: {type: bearer, token: abc, tokn: \"Pr0d-S3cr${et-Q7zK\"}", "line 6: targets.docs.auth.tokn: unclosed ${"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(y, tc.old, tc.new, 1)
			if text == y {
				t.Fatal("case does not change the config")
			}
			if tc.name == "${ENV} secret over plain http" {
				text = strings.Replace(text, "    auth: {type: bearer, token: abc}\n", "", 1)
			}
			_, err := config.Parse(strings.NewReader(text))
			if err == nil {
				t.Fatal("no error")
			}
			assertNoSecret(t, "the error", err.Error())
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q\nwant one line containing %q", err, tc.want)
			}
		})
	}
}

// A secret read from a *_file is used as it is (no ${} expansion), and a
// file readable by group or others gives a one-line warning.
func TestSecretFileModeWarns(t *testing.T) {
	dir, y := base(t)
	secret := filepath.Join(dir, "docs.token")
	if err := os.WriteFile(secret, []byte("Pr0d-S3cr${et-Q7zK\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(secret, 0o644)
	y = strings.Replace(y, "token: abc}", "token_file: "+secret+"}", 1)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Targets["docs"].Auth.Token.Reveal(); got != "Pr0d-S3cr${et-Q7zK" {
		t.Fatalf("token %q", got)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "line 6: targets.docs.auth.token_file: "+secret+" is readable by group or others (mode 0644): chmod 600 it") {
		t.Fatalf("warnings %q", c.Warnings)
	}
	assertNoSecret(t, "the warning", strings.Join(c.Warnings, "\n"))
	os.Chmod(secret, 0o600)
	if c, err = config.Parse(strings.NewReader(y)); err != nil || len(c.Warnings) != 0 {
		t.Fatalf("mode 0600: %v %q", err, c.Warnings)
	}
}

// Credentials over plain http:// go only to loopback, unless the target
// says allow_insecure_http (then with a warning).
func TestCredentialsOverPlainHTTP(t *testing.T) {
	_, y := base(t)
	for _, tc := range []struct{ url, extra, wantErr, wantWarn string }{
		{"http://docs.example.com", "", "line 5: targets.docs.url: credentials over plain http:// to docs.example.com: use https, or set allow_insecure_http: true on the target", ""},
		{"http://10.1.2.3:8080", "", "credentials over plain http:// to 10.1.2.3", ""},
		{"http://docs.example.com", "    allow_insecure_http: true\n", "", "line 5: targets.docs.url: credentials go over plain http:// to docs.example.com (allow_insecure_http)"},
		{"http://127.0.0.1:8765", "", "", ""},
		{"http://localhost:8765", "", "", ""},
		{"http://[::1]:8765", "", "", ""},
		{"https://docs.example.com", "", "", ""},
	} {
		text := strings.Replace(y, "url: https://example.com\n", "url: "+tc.url+"\n"+tc.extra, 1)
		c, err := config.Parse(strings.NewReader(text))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		warn := strings.Join(c.Warnings, "\n")
		if (tc.wantWarn == "") != (warn == "") || !strings.Contains(warn, tc.wantWarn) {
			t.Errorf("%s: warnings %q, want %q", tc.url, warn, tc.wantWarn)
		}
	}
	// An oauth2 client secret goes to token_url: the same rule.
	text := strings.Replace(y, "auth: {type: bearer, token: abc}", "auth: {type: oauth2, token_url: http://idp.example.com/token, client_id: c, client_secret: s}", 1)
	if _, err := config.Parse(strings.NewReader(text)); err == nil || !strings.Contains(err.Error(), "targets.docs.auth.token_url: credentials over plain http:// to idp.example.com") {
		t.Fatalf("token_url: %v", err)
	}
	// Without credentials, plain http is the operator's business.
	text = strings.Replace(y, "url: https://example.com", "url: http://docs.example.com", 1)
	text = strings.Replace(text, "auth: {type: bearer, token: abc}", "auth: {type: none}", 1)
	if _, err := config.Parse(strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionDefaults(t *testing.T) {
	_, y := base(t)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.Done.D().Hours() != 168 || c.Retention.Failed.D().Hours() != 720 || c.Retention.ForgottenState.D().Hours() != 720 {
		t.Fatalf("retention %+v", c.Retention)
	}
	c, err = config.Parse(strings.NewReader("retention: {done: 1h, failed: 2h, forgotten_state: 3h}\n" + y))
	if err != nil || c.Retention.Done.D().Hours() != 1 || c.Retention.Failed.D().Hours() != 2 || c.Retention.ForgottenState.D().Hours() != 3 {
		t.Fatalf("retention %+v %v", c.Retention, err)
	}
}

// An adapter's own *_file key (Oracle's access_code_file) is read the same
// way: content as it is, a warning for a file others can read, and no path
// of a missing file (it may be a pasted secret).
func TestReadSecretFileForAdapters(t *testing.T) {
	p := filepath.Join(t.TempDir(), "code")
	os.WriteFile(p, []byte("Pr0d-S3cr${et-Q7zK\r\n"), 0o640)
	os.Chmod(p, 0o640)
	s, warn, err := config.ReadSecretFile(p)
	if err != nil || s.Reveal() != "Pr0d-S3cr${et-Q7zK" || !strings.Contains(warn, "is readable by group or others (mode 0640)") {
		t.Fatalf("%q %q %v", s.Reveal(), warn, err)
	}
	_, _, err = config.ReadSecretFile("Pr0d-S3cret-Q7zK")
	if err == nil || err.Error() != "cannot read the secret file: no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}
}

// validate says beforehand that an existing state_dir open to others will
// be tightened.
func TestLooseStateDirWarns(t *testing.T) {
	dir, y := base(t)
	state := filepath.Join(dir, "state")
	os.Mkdir(state, 0o755)
	os.Chmod(state, 0o755)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || c.Warnings[0] != "line 1: state_dir: "+state+" is mode 0755: dropsync tightens it to 0700 at start" {
		t.Fatalf("warnings %q", c.Warnings)
	}
}

// Secrets that the YAML syntax turns into something else are not echoed
// either: a password that starts with an indicator (* makes it an alias,
// whose name yaml.v3 quotes: "unknown anchor '…' referenced"), a token
// written without a space after the colon (one key "token:S3cr…"), a long
// token pasted into a *_file key (its open fails with "file name too
// long", not "no such file").
func TestSecretsTheSyntaxMangledAreNeverEchoed(t *testing.T) {
	_, y := base(t)
	const secret = "Pr0dS3cretQ7zKxyzw"
	auth := "auth: {type: bearer, token: abc}"
	var texts []string
	for _, pre := range []string{"*", "!", "&", "%", "@", "`", "!!int ", "!!binary ", "!!timestamp ", "!!map "} {
		texts = append(texts,
			strings.Replace(y, auth, "auth:\n      type: basic\n      username: u\n      password: "+pre+secret, 1),
			strings.Replace(y, auth, "auth: {type: basic, username: u, password: "+pre+secret+"}", 1))
	}
	texts = append(texts,
		strings.Replace(y, auth, "auth: {type: bearer, token:"+secret+"}", 1),
		strings.Replace(y, auth, "auth: {type: bearer, token_file: eyJhbGciOiJSUzI1NiJ9."+strings.Repeat(secret, 20)+".sig}", 1))
	for _, text := range texts {
		_, err := config.Parse(strings.NewReader(text))
		if err == nil {
			continue
		}
		if strings.Contains(err.Error(), "S3cret") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("the error shows the secret or spans lines: %.300s", err)
		}
	}
	// What is named instead still says what is wrong.
	_, err := config.Parse(strings.NewReader(strings.Replace(y, auth, "auth: {type: bearer, token:"+secret+"}", 1)))
	if err == nil || !strings.Contains(err.Error(), `unknown key "token" followed by a value without a space after the colon`) {
		t.Errorf("no space after the colon: %v", err)
	}
}
