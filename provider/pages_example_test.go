package provider_test

import (
	"bufio"
	"context"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// A host gives the pages its own look: the built-in templates with the
// layout ("head") replaced by one that loads the host's stylesheet and
// logo, which PageSources lets the Content-Security-Policy allow, and a
// German heading of its own. The login page then looks like this to a
// browser that prefers German.
func ExampleBuiltinTemplates() {
	pages := provider.BuiltinTemplates()
	template.Must(pages.Parse(`{{define "head"}}<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Title}} · Example Corp</title>
<link rel="stylesheet" href="https://cdn.example.com/brand.css"></head>
<body><header><img src="https://cdn.example.com/logo.svg" alt="Example Corp"></header>
<main>{{end}}`))

	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	p, err := provider.New(provider.Config{
		Issuer: issuer,
		Store:  memory.New(),
		Authenticator: provider.UserAuthenticatorFunc(func(context.Context, string, string) (provider.User, error) {
			return provider.User{}, provider.ErrInvalidCredentials
		}),
		Templates: pages,
		PageSources: provider.PageSources{
			Images: []string{"https://cdn.example.com"},
			Styles: []string{"https://cdn.example.com"},
		},
		Messages: map[string]provider.Messages{
			"de": {"login.heading": "Willkommen bei %s"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = p.CreateClient(context.Background(), storage.Client{
		ID: "example-app", Name: "Example App", Public: true, RedirectURIs: []string{"http://127.0.0.1:8081/cb"},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	defer srv.Close()

	// The browser: a cookie jar, and German first.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	q := url.Values{
		"response_type": {"code"}, "client_id": {"example-app"}, "redirect_uri": {"http://127.0.0.1:8081/cb"},
		"state": {"state-0123456789"}, "code_challenge_method": {"S256"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
	}
	req, _ := http.NewRequest(http.MethodGet, issuer+"/oauth2/authorize?"+q.Encode(), nil)
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	resp, err := browser.Do(req) // redirected to the login page
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Security-Policy"))
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if l := lines.Text(); strings.Contains(l, "<title>") || strings.HasPrefix(l, "<h1>") || strings.HasPrefix(l, "<label") {
			fmt.Println(strings.TrimPrefix(l, "<head><meta charset=\"utf-8\">"))
		}
	}
	// Output:
	// default-src 'none'; img-src https://cdn.example.com; style-src 'unsafe-inline' https://cdn.example.com; frame-ancestors 'none'; base-uri 'none'
	// <title>Anmelden · Example Corp</title>
	// <h1>Willkommen bei Example App</h1>
	// <label for="username">Benutzername</label>
	// <label for="password">Passwort</label>
}
