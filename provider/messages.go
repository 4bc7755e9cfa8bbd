package provider

import (
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Messages is a catalogue of the text of the provider's pages in one
// language: message ID → text. The IDs are those of the built-in English
// catalogue (BuiltinMessages()["en"] lists them all), plus three families
// a host adds to:
//
//	scope.<scope>          a scope's description on the consent page ("scope.assets:read": "Read your assets")
//	scope-group.<group>    the heading of a group of scopes on the consent page ("scope-group.assets": "Assets")
//	factor.<name>          the label of a second factor (mfa.Factor.Name) on the MFA page
//	error.<code>           what an OAuth 2.0 error code means to a user, on the error page
//
// A text with arguments takes them as fmt verbs, all strings: "%s wants
// to access your account". A translation may reorder them with explicit
// indexes ("%[2]s ... %[1]s") and must write a literal percent sign as
// "%%" in such a text; a text without arguments is shown as it is.
type Messages map[string]string

//go:embed messages/*.json
var messageFS embed.FS

// builtinMessages are the catalogues the provider ships, by language tag.
var builtinMessages = loadBuiltinMessages()

func loadBuiltinMessages() map[string]Messages {
	files, err := messageFS.ReadDir("messages")
	if err != nil {
		panic(err)
	}
	out := map[string]Messages{}
	for _, f := range files {
		b, err := messageFS.ReadFile("messages/" + f.Name())
		if err != nil {
			panic(err)
		}
		var m Messages
		if err := json.Unmarshal(b, &m); err != nil {
			panic(fmt.Sprintf("provider: built-in messages %s: %v", f.Name(), err))
		}
		out[strings.TrimSuffix(f.Name(), path.Ext(f.Name()))] = m
	}
	return out
}

// BuiltinMessages returns a copy of the catalogues the provider ships, by
// language tag: "en", the default, whose keys are every message ID the
// provider and its built-in templates use, and "de". A host translating the
// pages into another language starts from a copy of "en".
func BuiltinMessages() map[string]Messages {
	out := make(map[string]Messages, len(builtinMessages))
	for tag, m := range builtinMessages {
		out[tag] = maps.Clone(m)
	}
	return out
}

// msgID names a message of the catalogue. It is a struct rather than a
// string so that text cannot be passed where a message belongs: every ID
// is one of the msg* variables, and TestMessageIDs checks that each is in
// every built-in catalogue.
type msgID struct{ key string }

// The messages the provider's Go code shows; the templates name theirs
// (PageData.T). Titles first, then each page's messages.
var (
	msgRenderFailed = msgID{"page.render-failed"}
	msgSignedInAs   = msgID{"page.signed-in-as"}

	msgLoginTitle   = msgID{"login.title"}
	msgLoginMissing = msgID{"login.missing"}
	msgLoginWrong   = msgID{"login.wrong"}
	msgLoginLocked  = msgID{"login.locked"}
	msgLoginAppUser = msgID{"login.application-user"}

	msgMFATitle        = msgID{"mfa.title"}
	msgMFAChooseMethod = msgID{"mfa.choose-method"}
	msgMFAMissing      = msgID{"mfa.missing"}
	msgMFAWrong        = msgID{"mfa.wrong"}
	msgMFALocked       = msgID{"mfa.locked"}

	msgMFAEnrollTitle   = msgID{"mfa-enroll.title"}
	msgMFARecoveryTitle = msgID{"mfa-recovery.title"}

	msgAccountAppsTitle      = msgID{"account.apps-title"}
	msgAccountSecurityTitle  = msgID{"account.security-title"}
	msgAccountNameLogin      = msgID{"account.name-login"}
	msgAccountNameMFA        = msgID{"account.name-mfa"}
	msgAccountRevoked        = msgID{"account.notice-revoked"}
	msgAccountMFAEnrolled    = msgID{"account.notice-enrolled"}
	msgAccountMFARemoved     = msgID{"account.notice-removed"}
	msgAccountNotFound       = msgID{"account.not-found"}
	msgAccountBadAction      = msgID{"account.bad-action"}
	msgAccountNoApp          = msgID{"account.no-app"}
	msgAccountKeyRevoked     = msgID{"account.notice-key-revoked"}
	msgAccountNoKey          = msgID{"account.no-key"}
	msgAccountKeyUnknown     = msgID{"account.key-unknown"}
	msgAccountMFAUnavailable = msgID{"account.mfa-unavailable"}
	msgAccountQRLabel        = msgID{"account.qr-label"}

	msgTenantTitle  = msgID{"tenant.title"}
	msgTenantChoose = msgID{"tenant.choose"}

	msgConsentTitle  = msgID{"consent.title"}
	msgConsentChoose = msgID{"consent.choose"}

	msgLogoutTitle                = msgID{"logout.title"}
	msgLogoutDoneTitle            = msgID{"logout.done-title"}
	msgLogoutBadHint              = msgID{"logout.bad-hint"}
	msgLogoutClientMismatch       = msgID{"logout.client-mismatch"}
	msgLogoutNeedsClient          = msgID{"logout.needs-client"}
	msgLogoutUnregisteredRedirect = msgID{"logout.unregistered-redirect"}

	msgErrorTitle        = msgID{"error.title"}
	msgErrorDefault      = msgID{"error.default"}
	msgErrorFlowMissing  = msgID{"error.flow-missing"}
	msgErrorFlowExpired  = msgID{"error.flow-expired"}
	msgErrorOtherBrowser = msgID{"error.other-browser"}
	msgErrorCSRF         = msgID{"error.csrf"}
	msgErrorUnavailable  = msgID{"error.unavailable"}
	msgErrorTooManyFlows = msgID{"error.too-many-flows"}
	msgErrorTooLong      = msgID{"error.too-long"}
	msgErrorMethod       = msgID{"error.method"}
	msgErrorTooLarge     = msgID{"error.too-large"}
	msgErrorUnreadable   = msgID{"error.unreadable"}
	msgErrorRepeated     = msgID{"error.repeated-param"}

	msgSecond  = msgID{"duration.second"}
	msgSeconds = msgID{"duration.seconds"}
	msgMinute  = msgID{"duration.minute"}
	msgMinutes = msgID{"duration.minutes"}
)

// Message ID families whose members are named at run time: a scope's
// description, a group of scopes, a factor's label, an error code.
const (
	scopeKeyPrefix      = "scope."
	scopeGroupKeyPrefix = "scope-group."
	factorKeyPrefix     = "factor."
	errorKeyPrefix      = "error."
)

// message is a message to show and its arguments; the zero message is
// none.
type message struct {
	id   msgID
	args []any
}

// msg returns the message id with args.
func msg(id msgID, args ...any) message { return message{id: id, args: args} }

// none reports whether m is no message.
func (m message) none() bool { return m.id.key == "" }

// localizer is a message argument that is itself text in the page's
// language.
type localizer interface {
	localize(c *catalogue) string
}

// wait is how long a user must wait, shown in seconds (rounded, at least
// one) up to two minutes and in whole minutes (rounded up) beyond.
type wait time.Duration

func (d wait) localize(c *catalogue) string {
	secs := max(int64(time.Duration(d).Round(time.Second)/time.Second), 1)
	switch {
	case secs == 1:
		return c.text(msgSecond.key)
	case secs < 120:
		return c.format(msgSeconds.key, strconv.FormatInt(secs, 10))
	}
	mins := int64(math.Ceil(float64(secs) / 60))
	if mins == 1 {
		return c.text(msgMinute.key)
	}
	return c.format(msgMinutes.key, strconv.FormatInt(mins, 10))
}

// catalogue is the text of one language, complete: a message the language
// lacks comes from its base language ("de" for "de-CH"), then English.
type catalogue struct {
	// lang is the language tag, as the catalogue's key is written.
	lang string
	msgs map[string]string
}

// text returns the message key as it is, or key itself if the catalogue
// has no such message (which TestMessageIDs rules out for the provider's
// own).
func (c *catalogue) text(key string) string {
	if t, ok := c.msgs[key]; ok {
		return t
	}
	return key
}

// lookup returns the message key, if the catalogue has it.
func (c *catalogue) lookup(key string) (string, bool) {
	t, ok := c.msgs[key]
	return t, ok
}

// format returns the message key with args formatted into it: strings as
// they are, localizers in c's language, anything else by fmt.
func (c *catalogue) format(key string, args ...any) string {
	t := c.text(key)
	if len(args) == 0 {
		return t
	}
	return fmt.Sprintf(t, c.strings(args)...)
}

// strings returns args as strings for format.
func (c *catalogue) strings(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case localizer:
			out[i] = v.localize(c)
		case string:
			out[i] = v
		default:
			out[i] = fmt.Sprint(v)
		}
	}
	return out
}

// render returns m in c's language.
func (c *catalogue) render(m message) string {
	if m.none() {
		return ""
	}
	return c.format(m.id.key, m.args...)
}

// catalogues are the languages of the pages: the built-in catalogues with
// Config.Messages over them.
type catalogues struct {
	// byTag holds every language, by lower-case tag.
	byTag  map[string]*catalogue
	en     *catalogue
	choose func(r *http.Request, preferred []string) string
}

// newCatalogues merges Config.Messages (checked) over the built-in
// catalogues; choose is Config.Language.
func newCatalogues(host map[string]Messages, choose func(*http.Request, []string) string) *catalogues {
	// Every language, by lower-case tag, each with its layers: built in,
	// then the host's.
	layers := map[string][]Messages{}
	spelled := map[string]string{}
	for _, src := range []map[string]Messages{builtinMessages, host} {
		for tag, m := range src {
			k := strings.ToLower(tag)
			layers[k] = append(layers[k], m)
			if _, ok := spelled[k]; !ok {
				spelled[k] = tag
			}
		}
	}
	base := map[string]string{}
	for _, m := range layers["en"] {
		maps.Copy(base, m)
	}
	cs := &catalogues{byTag: map[string]*catalogue{}, choose: choose}
	for k := range layers {
		msgs := maps.Clone(base)
		// The ancestors from the shortest ("de") to the tag itself
		// ("de-ch").
		parts := strings.Split(k, "-")
		for i := 1; i <= len(parts); i++ {
			for _, m := range layers[strings.Join(parts[:i], "-")] {
				maps.Copy(msgs, m)
			}
		}
		cs.byTag[k] = &catalogue{lang: spelled[k], msgs: msgs}
	}
	cs.en = cs.byTag["en"]
	return cs
}

// lookup returns the catalogue of tag, or of its nearest ancestor ("de"
// for "de-CH-1996"), or nil.
func (cs *catalogues) lookup(tag string) *catalogue {
	k := strings.ToLower(strings.TrimSpace(tag))
	for k != "" {
		if c, ok := cs.byTag[k]; ok {
			return c
		}
		i := strings.LastIndexByte(k, '-')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return nil
}

// forRequest returns the catalogue of a page: Config.Language's choice if
// it set one, else the first language the user prefers (uiLocales, the
// authorization or logout request's ui_locales, then the Accept-Language
// header) that the provider has, else English.
func (cs *catalogues) forRequest(r *http.Request, uiLocales string) *catalogue {
	preferred := preferredLanguages(r, uiLocales)
	if cs.choose != nil {
		if tag := cs.choose(r, slices.Clone(preferred)); tag != "" {
			if c := cs.lookup(tag); c != nil {
				return c
			}
			return cs.en
		}
	}
	for _, tag := range preferred {
		if c := cs.lookup(tag); c != nil {
			return c
		}
	}
	return cs.en
}

// maxPreferred bounds the languages read from ui_locales and from
// Accept-Language, each.
const maxPreferred = 16

// languageTag matches a BCP 47 language tag, loosely: letters first, then
// subtags of letters and digits.
var languageTag = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$`)

// preferredLanguages lists the languages a request prefers, most preferred
// first: those of uiLocales (space-separated, in order; OpenID Connect Core
// 1.0 §3.1.2.1), then those of the Accept-Language header by weight
// (RFC 9110 §12.5.4), without "*" and those of weight 0.
func preferredLanguages(r *http.Request, uiLocales string) []string {
	var out []string
	for i, tag := range strings.Fields(uiLocales) {
		if i == maxPreferred {
			break
		}
		if languageTag.MatchString(tag) {
			out = append(out, tag)
		}
	}
	if r == nil {
		return out
	}
	type weighted struct {
		tag string
		q   float64
	}
	var ws []weighted
	for i, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		if i == maxPreferred {
			break
		}
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.TrimSpace(tag)
		if !languageTag.MatchString(tag) {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > 0 {
			ws = append(ws, weighted{tag, q})
		}
	}
	slices.SortStableFunc(ws, func(a, b weighted) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	for _, w := range ws {
		out = append(out, w.tag)
	}
	return out
}

// checkMessages checks Config.Messages: language tags, message IDs, and
// that each text takes the arguments its message is given.
func (c *Config) checkMessages(e *configErrors) {
	en := builtinMessages["en"]
	seen := map[string]string{}
	for tag, m := range c.Messages {
		field := fmt.Sprintf("Messages[%q]", tag)
		if !languageTag.MatchString(tag) {
			e.bad(field, "the language must be a BCP 47 tag such as \"de\" or \"pt-BR\"")
			continue
		}
		if other, dup := seen[strings.ToLower(tag)]; dup {
			e.bad(field, "the same language as %q (tags compare without case)", other)
		}
		seen[strings.ToLower(tag)] = tag
		for _, key := range slices.Sorted(maps.Keys(m)) {
			text := m[key]
			want, known := en[key]
			switch {
			case !known && !dynamicMessageKey(key):
				e.bad(field, "unknown message ID %q: the IDs are those of BuiltinMessages()[\"en\"], and scope., scope-group., factor. and error. followed by a name", key)
			case strings.TrimSpace(text) == "":
				e.bad(field, "message %q is empty", key)
			case known && !sameArguments(want, text):
				e.bad(field, "message %q must take the arguments the English one does (%q), got %q", key, want, text)
			}
		}
	}
}

// dynamicMessageKey reports whether key belongs to a family of message IDs
// named at run time (scope., scope-group., factor., error.), with a name.
func dynamicMessageKey(key string) bool {
	for _, p := range []string{scopeKeyPrefix, scopeGroupKeyPrefix, factorKeyPrefix, errorKeyPrefix} {
		if strings.HasPrefix(key, p) && len(key) > len(p) {
			return true
		}
	}
	return false
}

// sameArguments reports whether text formats the arguments of the
// built-in message want without fmt's complaints (a missing or extra
// argument, a verb that is not for strings).
func sameArguments(want, text string) bool {
	n := strings.Count(strings.ReplaceAll(want, "%%", ""), "%")
	if n == 0 {
		return true // shown as it is
	}
	args := make([]any, n)
	for i := range args {
		args[i] = "x"
	}
	return !strings.Contains(fmt.Sprintf(text, args...), "%!")
}
