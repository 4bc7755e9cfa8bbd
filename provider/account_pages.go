package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// The account pages, below Config.Paths.Account: the user's connected
// apps ("/apps") and second factor ("/security"), each a section. They
// run on the browser's login session, which must be recent
// (Config.AccountMaxAge) and carry the user's second factor if they have
// one; otherwise "/login" asks for what is missing and comes back. Every
// POST carries a CSRF token bound to the session cookie (the login form's
// to the browser cookie); the pages are never framed (setPageHeaders).
//
// A section is its path, its page (GET) and its actions (POST, chosen by
// the form's "action" field). Another section, or another list on a
// page, is one more entry in accountSections or one more action and a
// field of AccountPage to fill.

// AccountPage is what the account pages' templates get besides the usual
// [PageData] fields ("account-apps", "account-security", and, in the
// authorization flow, "mfa-enroll" and "mfa-recovery").
type AccountPage struct {
	// Section is the page shown: "apps" or "security".
	Section string
	// AppsURL and SecurityURL are the pages' addresses, for the
	// navigation between them.
	AppsURL, SecurityURL string
	// Notice confirms the last change (an app disconnected, the factor
	// removed), in the page's language; empty when there is none.
	Notice string
	// Apps are the applications the user authorized (apps).
	Apps []AccountApp
	// APIKeys are the user's own API keys, ordered by ID, with which
	// scripts act as them (apps; empty when the store keeps no API keys).
	APIKeys []AccountAPIKey
	// CanEnroll is true when the provider has a factor users may set up
	// themselves (an *mfa.TOTP in Config.Factors) (security).
	CanEnroll bool
	// MFAEnrolled is true when the user has an authenticator app in force
	// (security).
	MFAEnrolled bool
	// Replacing is true while a new authenticator app waits for its first
	// code, replacing the one in force (security).
	Replacing bool
	// RecoveryCodesLeft is how many unused recovery codes the user has
	// (security).
	RecoveryCodesLeft int
	// Setup is the authenticator app to set up, while an enrollment waits
	// for its first code, or nil (security, mfa-enroll).
	Setup *TOTPSetup
	// RecoveryCodes are new recovery codes, shown this once; nil on every
	// other showing (security, after a confirmation; mfa-recovery).
	RecoveryCodes []string
}

// AccountApp is one application on the account's apps page.
type AccountApp struct {
	ConnectedApp
	// ScopeInfos are Scopes described for the user, as on the consent
	// page.
	ScopeInfos []ScopeInfo
	// TenantName is Tenant's Name, else its ID, or empty.
	TenantName string
}

// AccountAPIKey is one of the user's API keys on the account's apps page.
// It never holds the key or its hash.
type AccountAPIKey struct {
	// ID is the key's public identifier (the part after gatehouse_ak_ that
	// the user finds in their key), and Name the note it was given.
	ID, Name string
	// TenantName is the name of the tenant the key acts in (its ID if the
	// user's memberships do not name it), or empty.
	TenantName string
	// Permissions are the key's permission bound, described for the user;
	// empty when the key may do all its owner may.
	Permissions []ScopeInfo
	// IPRanges are the only addresses the key is accepted from, if any.
	IPRanges []string
	// CreatedAt, ExpiresAt (zero: never) and LastUsedAt (zero: never used).
	CreatedAt, ExpiresAt, LastUsedAt time.Time
	// Expired is true once ExpiresAt has passed.
	Expired bool
}

// TOTPSetup is an authenticator app's secret to set up.
type TOTPSetup struct {
	// Secret is the secret in base32, in groups of four, for typing.
	Secret string
	// URI is the otpauth:// URI of the secret.
	URI string
	// QR is the URI as a QR code: an inline <svg> element.
	QR template.HTML
}

// Time formats t for the pages: date and time in UTC.
func (d PageData) Time(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// accountSection is one account page.
type accountSection struct {
	name     string // its path below Paths.Account and AccountPage.Section
	title    msgID
	template string
	// fill adds the page's data to pd.
	fill func(p *Provider, r *http.Request, s *accountSession, pd *PageData) error
	// actions are its POST actions, by the form's "action".
	actions map[string]accountAction
}

// accountAction is a change a page's form asks for. It returns what to
// answer (see accountOutcome).
type accountAction func(p *Provider, w http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome

// accountOutcome is the answer to an account action: an error ends the
// request with an error page; a message shows the page again with it
// (a wrong code); codes show the page with new recovery codes, once;
// otherwise the browser is sent back to the page (Post/Redirect/Get)
// with done, a key of accountNotices, or "".
type accountOutcome struct {
	err   error
	m     message
	codes []string
	done  string
}

// accountNotices are the confirmations a page shows after a change, by
// the "done" query parameter its redirect carries.
var accountNotices = map[string]msgID{
	"revoked":     msgAccountRevoked,
	"key-revoked": msgAccountKeyRevoked,
	"removed":     msgAccountMFARemoved,
	"enrolled":    msgAccountMFAEnrolled,
}

var accountSections = []*accountSection{
	{name: "apps", title: msgAccountAppsTitle, template: "account-apps", fill: fillApps,
		actions: map[string]accountAction{"revoke": revokeAction, "revoke-key": revokeKeyAction}},
	{name: "security", title: msgAccountSecurityTitle, template: "account-security", fill: fillSecurity,
		actions: map[string]accountAction{
			"totp-start":   startTOTPAction,
			"totp-confirm": confirmTOTPAction,
			"totp-replace": replaceTOTPAction,
			"totp-remove":  removeTOTPAction,
			"totp-cancel":  cancelTOTPAction,
		}},
}

// accountSession is the signed-in user of an account page.
type accountSession struct {
	login *storage.LoginSession
	user  User
	csrf  string // the CSRF token of the page's forms
}

// AccountHandler returns the account pages (Config.Paths.Account, see
// [Provider.Handler]): Account + "/apps", "/security" and "/login", and
// Account itself, which redirects to the apps. A host with its own router
// mounts it at Account and at every path below it.
func (p *Provider) AccountHandler() http.Handler {
	return p.instrument(p.tel.endpoint("account"), http.HandlerFunc(p.serveAccount))
}

func (p *Provider) accountURL(section string) string {
	return p.issuerPath + p.cfg.Paths.Account + "/" + section
}

func (p *Provider) serveAccount(w http.ResponseWriter, r *http.Request) {
	if !p.parsePageRequest(w, r) {
		return
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), p.issuerPath+p.cfg.Paths.Account)
	if rest == "" || rest == "/" {
		p.accountRedirect(w, r, p.accountURL("apps"))
		return
	}
	if rest == "/login" {
		p.serveAccountLogin(w, r)
		return
	}
	for _, sec := range accountSections {
		if rest == "/"+sec.name {
			p.serveAccountSection(w, r, sec)
			return
		}
	}
	p.renderError(w, r, http.StatusNotFound, "invalid_request", msg(msgAccountNotFound))
}

// accountRedirect sends the browser to target with 303 See Other.
func (p *Provider) accountRedirect(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// serveAccountSection shows a section's page (GET) or runs one of its
// actions (POST), for a signed-in user.
func (p *Provider) serveAccountSection(w http.ResponseWriter, r *http.Request, sec *accountSection) {
	s, ok := p.accountSession(w, r, sec.name)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		notice := message{}
		if id, ok := accountNotices[r.URL.Query().Get("done")]; ok {
			notice = msg(id)
		}
		p.renderAccount(w, r, sec, s, http.StatusOK, notice, message{}, nil)
		return
	}
	if !secret.Equal(r.PostForm.Get("csrf_token"), s.csrf) {
		p.renderError(w, r, http.StatusForbidden, "invalid_request", msg(msgErrorCSRF))
		return
	}
	action, ok := sec.actions[r.PostForm.Get("action")]
	if !ok {
		p.renderError(w, r, http.StatusBadRequest, "invalid_request", msg(msgAccountBadAction))
		return
	}
	out := action(p, w, r, s)
	switch {
	case out.err != nil:
		p.accountFailure(w, r, out.err)
	case !out.m.none():
		p.renderAccount(w, r, sec, s, http.StatusBadRequest, message{}, out.m, nil)
	case out.codes != nil:
		p.renderAccount(w, r, sec, s, http.StatusOK, msg(msgAccountMFAEnrolled), message{}, out.codes)
	default:
		target := p.accountURL(sec.name)
		if out.done != "" {
			target += "?done=" + url.QueryEscape(out.done)
		}
		p.accountRedirect(w, r, target)
	}
}

// accountFailure shows the error page for an account action that failed:
// unavailable for the store, server_error (logged) otherwise.
func (p *Provider) accountFailure(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, oauth.ErrUnavailable) {
		p.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "account page: backend unavailable", slog.String("error", err.Error()))
		p.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", msg(msgErrorUnavailable))
		return
	}
	p.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "account page failed", slog.String("error", err.Error()))
	p.renderError(w, r, http.StatusInternalServerError, "server_error", msg(msgErrorDefault))
}

// renderAccount shows a section's page with status, notice (a change
// done), m (what was wrong) and codes (new recovery codes, shown once).
func (p *Provider) renderAccount(w http.ResponseWriter, r *http.Request, sec *accountSection, s *accountSession, status int, notice, m message, codes []string) {
	pd := p.page(r, "", sec.title)
	pd.Action = p.accountURL(sec.name)
	pd.CSRF = s.csrf
	pd.Error = pd.cat.render(m)
	pd.setUser(&s.user, s.login.Subject)
	pd.Account = &AccountPage{
		Section:       sec.name,
		AppsURL:       p.accountURL("apps"),
		SecurityURL:   p.accountURL("security"),
		Notice:        pd.cat.render(notice),
		RecoveryCodes: codes,
	}
	if err := sec.fill(p, r, s, &pd); err != nil {
		p.accountFailure(w, r, err)
		return
	}
	p.render(w, status, sec.template, pd)
}

// accountSession returns the user of an account page: the browser's login
// session, if it authenticated within Config.AccountMaxAge and, for a
// user with a second factor, with it. Otherwise it sends the browser to
// the account login, to come back to section, and returns false.
func (p *Provider) accountSession(w http.ResponseWriter, r *http.Request, section string) (*accountSession, bool) {
	ctx := r.Context()
	ls, err := p.currentLogin(ctx, r)
	if err != nil {
		p.accountFailure(w, r, err)
		return nil, false
	}
	if ls == nil || !p.recentLogin(ls) {
		p.accountRedirect(w, r, p.accountLoginURL(section))
		return nil, false
	}
	fs, err := p.enrolledFactors(ctx, ls.Subject)
	if err != nil {
		p.accountFailure(w, r, err)
		return nil, false
	}
	if factorMissing(fs, ls.AMR) {
		p.accountRedirect(w, r, p.accountLoginURL(section))
		return nil, false
	}
	cookie, _ := r.Cookie(sessionCookie) // there: currentLogin found its session
	return &accountSession{login: ls, user: p.sessionUser(ctx, ls), csrf: secret.Digest("account:" + cookie.Value)}, true
}

// recentLogin reports whether ls authenticated within
// Config.AccountMaxAge.
func (p *Provider) recentLogin(ls *storage.LoginSession) bool {
	return p.cfg.Now().Sub(ls.AuthTime) <= p.cfg.AccountMaxAge
}

// factorMissing reports whether a session with methods amr lacks the
// user's second factor: the user has factors fs and amr has none of
// their methods.
func factorMissing(fs []mfa.Factor, amr []string) bool {
	return len(fs) > 0 && !slices.ContainsFunc(fs, func(f mfa.Factor) bool { return slices.Contains(amr, f.Method()) })
}

// sessionUser returns the user of a login session: from the host's
// lookup, else as the authenticator returned them at sign-in.
func (p *Provider) sessionUser(ctx context.Context, ls *storage.LoginSession) User {
	if p.lookup != nil {
		if u, err := p.lookup.LookupUser(ctx, ls.Subject); err == nil {
			return u
		}
	}
	u := User{}
	_ = json.Unmarshal(ls.Claims, &u)
	u.Subject = ls.Subject
	return u
}

// accountName is how an authenticator app names the user's account: the
// username, else the subject.
func accountName(u *User) string {
	if u.Username != "" {
		return u.Username
	}
	return u.Subject
}

// accountLoginURL is the account login, coming back to section.
func (p *Provider) accountLoginURL(section string) string {
	return p.accountURL("login") + "?next=" + url.QueryEscape(section)
}

// serveAccountLogin signs the user in for the account pages: the
// password (when there is no recent session), then the second factor
// (when the user has one and the session lacks it); then it sends the
// browser back to the page named by "next" (a section's name: nothing
// else, so it redirects nowhere else). Its forms' CSRF token is bound to
// the browser cookie.
func (p *Provider) serveAccountLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	next := r.URL.Query().Get("next")
	if !slices.ContainsFunc(accountSections, func(s *accountSection) bool { return s.name == next }) {
		next = accountSections[0].name
	}
	ls, err := p.currentLogin(ctx, r)
	if err != nil {
		p.accountFailure(w, r, err)
		return
	}
	stage := "login"
	var fs []mfa.Factor
	if ls != nil && p.recentLogin(ls) {
		if fs, err = p.enrolledFactors(ctx, ls.Subject); err != nil {
			p.accountFailure(w, r, err)
			return
		}
		if !factorMissing(fs, ls.AMR) {
			p.accountRedirect(w, r, p.accountURL(next))
			return
		}
		stage = "mfa"
	}
	browser := p.browserID(w, r)
	csrf := secret.Digest("account-login:" + browser)
	if r.Method == http.MethodGet {
		p.showAccountLogin(w, r, stage, next, csrf, ls, fs, message{})
		return
	}
	if !secret.Equal(r.PostForm.Get("csrf_token"), csrf) {
		p.renderError(w, r, http.StatusForbidden, "invalid_request", msg(msgErrorCSRF))
		return
	}
	if r.PostForm.Get("step") != stage {
		// A stale form (the stage moved on in another tab): show the
		// current one.
		p.accountRedirect(w, r, p.accountLoginURL(next))
		return
	}
	if stage == "login" {
		nls, _, _, m, err := p.passwordSignIn(w, r, "", ls)
		switch {
		case err != nil:
			p.accountFailure(w, r, err)
		case nls == nil:
			p.showAccountLogin(w, r, stage, next, csrf, ls, fs, m)
		default:
			// On to the second factor, if the user has one, or back.
			p.accountRedirect(w, r, p.accountLoginURL(next))
		}
		return
	}
	f, m, err := p.verifyFactor(r, "", ls.Subject, fs)
	switch {
	case err != nil:
		p.accountFailure(w, r, err)
		return
	case f == nil:
		p.showAccountLogin(w, r, stage, next, csrf, ls, fs, m)
		return
	}
	if _, err := p.upgradeLogin(w, r, ls, append(slices.Clone(ls.AMR), f.Method())); err != nil {
		p.accountFailure(w, r, err)
		return
	}
	p.accountRedirect(w, r, p.accountURL(next))
}

// showAccountLogin shows the account login's password form (the "login"
// page) or second-factor form (the "mfa" page), with m as the error.
func (p *Provider) showAccountLogin(w http.ResponseWriter, r *http.Request, stage, next, csrf string, ls *storage.LoginSession, fs []mfa.Factor, m message) {
	status := http.StatusOK
	if !m.none() {
		status = http.StatusUnauthorized
	}
	title, name := msgLoginTitle, msgAccountNameLogin
	if stage == "mfa" {
		title, name = msgMFATitle, msgAccountNameMFA
	}
	pd := p.page(r, "", title)
	pd.Action = p.accountLoginURL(next)
	pd.CSRF = csrf
	pd.Step = stage
	pd.Error = pd.cat.render(m)
	pd.ClientName = pd.cat.text(name.key)
	if ls != nil {
		u := p.sessionUser(r.Context(), ls)
		pd.setUser(&u, ls.Subject)
	}
	if stage == "login" {
		if v := r.PostFormValue("username"); v != "" || ls == nil {
			pd.Username = v
		}
		p.render(w, status, "login", pd)
		return
	}
	for _, f := range fs {
		pd.Factors = append(pd.Factors, f.Name())
	}
	p.render(w, status, "mfa", pd)
}

// browserID returns the browser cookie's value, setting a new one if the
// browser has none.
func (p *Provider) browserID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := secret.Token()
	p.setCookie(w, browserCookie, v, 0)
	return v
}

// fillApps lists the user's connected apps.
func fillApps(p *Provider, r *http.Request, s *accountSession, pd *PageData) error {
	apps, err := p.ConnectedApps(r.Context(), s.login.Subject)
	if err != nil {
		return err
	}
	for _, a := range apps {
		aa := AccountApp{ConnectedApp: a}
		for _, sc := range a.Scopes {
			info := ScopeInfo{Name: sc}
			info.Description, _ = pd.cat.lookup(scopeKeyPrefix + sc)
			aa.ScopeInfos = append(aa.ScopeInfos, info)
		}
		if a.Tenant != nil {
			aa.TenantName = a.Tenant.Name
			if aa.TenantName == "" {
				aa.TenantName = a.Tenant.ID
			}
		}
		pd.Account.Apps = append(pd.Account.Apps, aa)
	}
	return fillKeys(p, r, s, pd)
}

// fillKeys lists the user's own API keys, if the store keeps keys.
func fillKeys(p *Provider, r *http.Request, s *accountSession, pd *PageData) error {
	if p.keyStore == nil {
		return nil
	}
	keys, err := p.APIKeysOf(r.Context(), s.login.Subject)
	if err != nil {
		return fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	now := p.cfg.Now()
	for _, k := range keys {
		ak := AccountAPIKey{
			ID: k.ID, Name: k.Name, IPRanges: k.IPRanges,
			CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt,
			Expired: !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt),
		}
		for _, perm := range k.PermissionScope {
			info := ScopeInfo{Name: perm}
			info.Description, _ = pd.cat.lookup(scopeKeyPrefix + perm)
			ak.Permissions = append(ak.Permissions, info)
		}
		if k.Tenant != "" {
			ak.TenantName = k.Tenant
			for _, m := range s.user.Memberships {
				if m.Tenant.ID == k.Tenant && m.Tenant.Name != "" {
					ak.TenantName = m.Tenant.Name
				}
			}
		}
		pd.Account.APIKeys = append(pd.Account.APIKeys, ak)
	}
	return nil
}

// revokeKeyAction deletes the user's own API key the form names
// (RevokeOwnAPIKey). A key that is not theirs, or no longer exists, is
// answered alike and left alone.
func revokeKeyAction(p *Provider, _ http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	id := r.PostForm.Get("key_id")
	if id == "" {
		return accountOutcome{m: msg(msgAccountNoKey)}
	}
	ctx := WithActor(r.Context(), userActor(s.login.Subject))
	err := p.RevokeOwnAPIKey(ctx, s.login.Subject, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return accountOutcome{m: msg(msgAccountKeyUnknown)}
	case errors.Is(err, errAuditWrite):
		return accountOutcome{err: err}
	case err != nil:
		return accountOutcome{err: fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)}
	}
	return accountOutcome{done: "key-revoked"}
}

// revokeAction disconnects the app the form names (RevokeApp).
func revokeAction(p *Provider, _ http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		return accountOutcome{m: msg(msgAccountNoApp)}
	}
	if err := p.revokeApp(r.Context(), r, s.login.Subject, clientID); err != nil {
		return accountOutcome{err: fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)}
	}
	return accountOutcome{done: "revoked"}
}

// fillSecurity shows where the user stands with the authenticator app.
func fillSecurity(p *Provider, r *http.Request, s *accountSession, pd *PageData) error {
	if p.totp == nil {
		return nil
	}
	ctx := r.Context()
	st, err := p.totp.Status(ctx, s.login.Subject)
	if err != nil {
		return fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	a := pd.Account
	a.CanEnroll = true
	a.MFAEnrolled = st.Confirmed
	a.Replacing = st.Confirmed && st.Pending
	a.RecoveryCodesLeft = st.RecoveryCodes
	if st.Pending && a.RecoveryCodes == nil {
		setup, err := p.totpSetup(ctx, pd, s.login.Subject, &s.user)
		if err != nil {
			return err
		}
		a.Setup = setup
	}
	return nil
}

// totpSetup returns the pending enrollment of subject, to show.
func (p *Provider) totpSetup(ctx context.Context, pd *PageData, subject string, u *User) (*TOTPSetup, error) {
	enr, err := p.totp.PendingEnrollment(ctx, subject, accountName(u))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	svg, err := qrSVG(enr.URI, pd.cat.text(msgAccountQRLabel.key), 200)
	if err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: groupSecret(enr.Secret), URI: enr.URI, QR: svg}, nil
}

// groupSecret writes a base32 secret in groups of four, for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i, c := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// postedCode returns the code the form posted ("otp"), or a message to
// show when there is none or it cannot be one.
func postedCode(r *http.Request) (string, message) {
	code := strings.TrimSpace(r.PostForm.Get("otp"))
	switch {
	case code == "":
		return "", msg(msgMFAMissing)
	case len(code) > maxCodeLen:
		return "", msg(msgMFAWrong)
	}
	return code, message{}
}

// startTOTPAction starts setting up an authenticator app (Enroll). An
// enrollment already pending starts again with a new secret.
func startTOTPAction(p *Provider, _ http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	if p.totp == nil {
		return accountOutcome{m: msg(msgAccountMFAUnavailable)}
	}
	_, err := p.totp.Enroll(r.Context(), s.login.Subject, accountName(&s.user))
	if err != nil && !errors.Is(err, mfa.ErrAlreadyEnrolled) {
		return accountOutcome{err: fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)}
	}
	return accountOutcome{}
}

// confirmTOTPAction confirms the pending enrollment or replacement with a
// code of the new secret, makes new recovery codes and shows them once.
// The session gains the factor (the code proved it): the pages do not ask
// for it again.
func confirmTOTPAction(p *Provider, w http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	if p.totp == nil {
		return accountOutcome{m: msg(msgAccountMFAUnavailable)}
	}
	code, m := postedCode(r)
	if !m.none() {
		return accountOutcome{m: m}
	}
	ctx := r.Context()
	err := p.totp.Confirm(ctx, s.login.Subject, code)
	if errors.Is(err, mfa.ErrAlreadyEnrolled) {
		return accountOutcome{} // confirmed meanwhile (another tab)
	}
	if m, err := p.codeAnswer(r.Context(), err, p.totp.Name(), s.login.Subject, ""); !m.none() || err != nil {
		return accountOutcome{m: m, err: err}
	}
	if err := p.accountEvent(ctx, r, AuditMFAEnrolled, s.login.Subject, ""); err != nil {
		return accountOutcome{err: err}
	}
	codes, err := p.totp.RegenerateRecoveryCodes(ctx, s.login.Subject)
	if err != nil {
		return accountOutcome{err: fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)}
	}
	if !slices.Contains(s.login.AMR, p.totp.Method()) {
		ls, err := p.upgradeLogin(w, r, s.login, append(slices.Clone(s.login.AMR), p.totp.Method()))
		if err != nil {
			return accountOutcome{err: err}
		}
		s.login = ls
	}
	return accountOutcome{codes: codes}
}

// replaceTOTPAction starts replacing the authenticator app, once the form
// carries a current code (or a recovery code) of it.
func replaceTOTPAction(p *Provider, _ http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	if p.totp == nil {
		return accountOutcome{m: msg(msgAccountMFAUnavailable)}
	}
	code, m := postedCode(r)
	if !m.none() {
		return accountOutcome{m: m}
	}
	_, err := p.totp.BeginReplace(r.Context(), s.login.Subject, accountName(&s.user), code)
	if m, err := p.codeAnswer(r.Context(), err, p.totp.Name(), s.login.Subject, ""); !m.none() || err != nil {
		return accountOutcome{m: m, err: err}
	}
	return accountOutcome{}
}

// removeTOTPAction removes the authenticator app and its recovery codes,
// once the form carries a current code (or a recovery code) of it.
func removeTOTPAction(p *Provider, _ http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	if p.totp == nil {
		return accountOutcome{m: msg(msgAccountMFAUnavailable)}
	}
	code, m := postedCode(r)
	if !m.none() {
		return accountOutcome{m: m}
	}
	ctx := r.Context()
	if m, err := p.codeAnswer(ctx, p.totp.Verify(ctx, s.login.Subject, code), p.totp.Name(), s.login.Subject, ""); !m.none() || err != nil {
		return accountOutcome{m: m, err: err}
	}
	if err := p.totp.Unenroll(ctx, s.login.Subject); err != nil && !errors.Is(err, mfa.ErrNotEnrolled) {
		return accountOutcome{err: fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)}
	}
	if err := p.accountEvent(ctx, r, AuditMFARemoved, s.login.Subject, ""); err != nil {
		return accountOutcome{err: err}
	}
	return accountOutcome{done: "removed"}
}

// cancelTOTPAction drops a pending enrollment or replacement.
func cancelTOTPAction(p *Provider, _ http.ResponseWriter, r *http.Request, s *accountSession) accountOutcome {
	if p.totp == nil {
		return accountOutcome{m: msg(msgAccountMFAUnavailable)}
	}
	if err := p.totp.CancelPending(r.Context(), s.login.Subject); err != nil {
		return accountOutcome{err: fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)}
	}
	return accountOutcome{}
}
