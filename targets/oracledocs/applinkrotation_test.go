package oracledocs_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/targets/oracledocs"
	"github.com/dropsync/dropsync/targets/targettest"
)

// An applink's access_token_file is a credential *_file like token_file:
// when the operator writes the new token (an applink's token expires and is
// refreshed), the next request must carry it without a restart. The defect:
// it was read once, when the watch was built (config.ReadSecretFile in
// Target.Watch), not through targets.Secret, so the stale token was sent on
// and on and every file failed with "link invalid or expired" until a
// SIGHUP or restart.
func TestAppLinkAccessTokenFileRotationIsPickedUp(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.Restrict(oracledocs.FakeFolderID)
	id, tok := fake.AddAppLink(oracledocs.FakeFolderID)
	tokFile := filepath.Join(t.TempDir(), "applink.token")
	if err := os.WriteFile(tokFile, []byte("expired-applink-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := targettest.Build(t, fake.Setup(srv.URL).Target,
		fmt.Sprintf("destination: {folder_id: %s, app_link_id: %s, access_token_file: %s}", oracledocs.FakeFolderID, id, tokFile))
	f, _ := env.File(t, "a.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err == nil {
		t.Fatal("delivered with the expired applink token")
	}
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil { // the operator rotates the token
		t.Fatal(err)
	}
	f, _ = env.File(t, "b.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatalf("after access_token_file was rotated on disk: %v", err)
	}
}

// access_code_file had the same defect as access_token_file (read once, when
// the watch was built): a public link's passcode rotated on disk must be sent
// with the next request.
func TestPublicLinkAccessCodeFileRotationIsPickedUp(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.Restrict(oracledocs.FakeFolderID)
	link := fake.AddPublicLink(oracledocs.FakeFolderID, "code-12345")
	codeFile := filepath.Join(t.TempDir(), "link.code")
	if err := os.WriteFile(codeFile, []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := targettest.Build(t, fake.Setup(srv.URL).Target,
		fmt.Sprintf("destination: {folder_id: %s, link_id: %s, access_code_file: %s}", oracledocs.FakeFolderID, link, codeFile))
	f, _ := env.File(t, "a.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err == nil {
		t.Fatal("delivered with the stale access code")
	}
	if err := os.WriteFile(codeFile, []byte("code-12345\n"), 0o600); err != nil { // the operator rotates the code
		t.Fatal(err)
	}
	f, _ = env.File(t, "b.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatalf("after access_code_file was rotated on disk: %v", err)
	}
}
