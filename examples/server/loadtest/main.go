// Command loadtest drives client_credentials load at the demo server
// (examples/server) on loopback and, optionally, terminates every backend
// of the demo's PostgreSQL database at a fixed interval meanwhile; it then
// prints how the requests were answered and whether the server recovered.
// connloss.sh, next to it, builds and starts everything.
//
//	loadtest createdb -admin-dsn postgres://postgres@127.0.0.1:5432/postgres -db gatehouse_connloss [-pool 16]
//	loadtest dropdb   -admin-dsn ... -db gatehouse_connloss
//	loadtest run      -url http://127.0.0.1:18080 [-workers 32] [-duration 120s]
//	                  [-admin-dsn ... -db gatehouse_connloss -kill-every 5s]
//
// createdb (re)creates the database and prints the demo's DSN for it, with
// pool_max_conns set. run sends requests only to loopback addresses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadtest createdb|dropdb|run [flags] (-h for the flags)")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "createdb":
		err = createDB(ctx, args)
	case "dropdb":
		err = dropDB(ctx, args)
	case "run":
		var ok bool
		ok, err = run(ctx, args, os.Stdout)
		if err == nil && !ok {
			os.Exit(1)
		}
	default:
		err = fmt.Errorf("unknown command %q: use createdb, dropdb or run", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
}

const defaultAdminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// dbFlags are the flags that name the demo's database.
type dbFlags struct {
	adminDSN, db string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.adminDSN, "admin-dsn", defaultAdminDSN, "a DSN of the PostgreSQL server on another database than -db, as a user that may create databases and terminate backends")
	fs.StringVar(&d.db, "db", "gatehouse_connloss", "the demo's database: created by createdb, its backends terminated by run")
}

func (d *dbFlags) check() error {
	if d.db == "" || strings.ContainsAny(d.db, `"`+"\x00") {
		return fmt.Errorf("-db %q: give a plain database name", d.db)
	}
	u, err := url.Parse(d.adminDSN)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("-admin-dsn: give a postgres:// URL")
	}
	if strings.TrimPrefix(u.Path, "/") == d.db {
		return errors.New("-admin-dsn must name another database than -db (the killer must not kill itself)")
	}
	return nil
}

// demoDSN is adminDSN on database db with pool_max_conns set.
func (d *dbFlags) demoDSN(pool int) string {
	u, _ := url.Parse(d.adminDSN) // checked by check
	u.Path = "/" + d.db
	q := u.Query()
	if pool > 0 {
		q.Set("pool_max_conns", strconv.Itoa(pool))
	}
	q.Set("application_name", "gatehouse-demo")
	u.RawQuery = q.Encode()
	return u.String()
}

func connectAdmin(ctx context.Context, d dbFlags) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, d.adminDSN)
	if err != nil {
		return nil, fmt.Errorf("connect with -admin-dsn (is PostgreSQL running, and may that user connect?): %w", err)
	}
	return c, nil
}

func createDB(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("createdb", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	pool := fs.Int("pool", 16, "pool_max_conns in the printed DSN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	c, err := connectAdmin(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	name := pgx.Identifier{d.db}.Sanitize()
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop the old database %s: %w", d.db, err)
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database %s (does the -admin-dsn user have CREATEDB?): %w", d.db, err)
	}
	fmt.Println(d.demoDSN(*pool))
	return nil
}

func dropDB(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dropdb", flag.ContinueOnError)
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	c, err := connectAdmin(ctx, d)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.db}.Sanitize()+" WITH (FORCE)")
	return err
}

// counts are the answers seen.
type counts struct {
	mu     sync.Mutex
	status map[int]int64
	errs   map[string]int64 // transport errors, by message
	bodies map[string]int64 // error code of non-200 answers
}

func (c *counts) add(status int, errCode string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs[shorten(err.Error())]++
		return
	}
	c.status[status]++
	if status != http.StatusOK {
		c.bodies[strconv.Itoa(status)+" "+errCode]++
	}
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// client sends token requests.
type client struct {
	hc             *http.Client
	tokenURL       string
	id, secret     string
	scope          string
	requestTimeout time.Duration
}

// token sends one client_credentials request and returns the status and,
// for an error answer, its error code.
func (c *client) token(ctx context.Context) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {c.scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, "", err
	}
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode == http.StatusOK && out.AccessToken == "" {
		return resp.StatusCode, "200 without access_token", nil
	}
	return resp.StatusCode, out.Error, nil
}

// loopbackURL checks that raw is an http URL on a loopback address.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return nil, fmt.Errorf("-url %q: give http://127.0.0.1:PORT", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-url %q: loadtest only sends load to a loopback IP address (127.0.0.0/8, ::1)", raw)
	}
	return u, nil
}

func run(ctx context.Context, args []string, out io.Writer) (bool, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	rawURL := fs.String("url", "http://127.0.0.1:18080", "the demo server (loopback only)")
	id := fs.String("client-id", "demo-service", "client_credentials client (the demo seeds demo-service)")
	secret := fs.String("client-secret", "demo-service-secret", "its secret")
	scope := fs.String("scope", "assets:read", "requested scope")
	workers := fs.Int("workers", 32, "concurrent requests (each on its own keep-alive connection)")
	duration := fs.Duration("duration", 120*time.Second, "how long to send load (and kill backends)")
	killEvery := fs.Duration("kill-every", 5*time.Second, "terminate every backend of -db this often (0: never)")
	recoverWithin := fs.Duration("recover-within", 15*time.Second, "after the load: how long the server may take to answer 50 requests in a row with 200")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for the server to come up")
	var d dbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	u, err := loopbackURL(*rawURL)
	if err != nil {
		return false, err
	}
	if *workers < 1 {
		return false, errors.New("-workers must be at least 1")
	}
	if *killEvery > 0 {
		if err := d.check(); err != nil {
			return false, err
		}
	}
	c := &client{
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: *workers,
			MaxConnsPerHost:     *workers,
			IdleConnTimeout:     time.Minute,
		}},
		tokenURL:       u.JoinPath("/oauth2/token").String(),
		id:             *id,
		secret:         *secret,
		scope:          *scope,
		requestTimeout: 10 * time.Second,
	}

	if err := waitUp(ctx, c, *wait); err != nil {
		return false, err
	}

	var admin *pgx.Conn
	if *killEvery > 0 {
		if admin, err = connectAdmin(ctx, d); err != nil {
			return false, err
		}
		defer admin.Close(context.Background())
	}

	fmt.Fprintf(out, "load: %d workers, %s, POST %s (client_credentials, client %s)\n", *workers, *duration, c.tokenURL, *id)
	if *killEvery > 0 {
		fmt.Fprintf(out, "fault: every %s, pg_terminate_backend on every client backend of database %q\n", *killEvery, d.db)
	}
	cs := &counts{status: map[int]int64{}, errs: map[string]int64{}, bodies: map[string]int64{}}
	loadCtx, stopLoad := context.WithTimeout(ctx, *duration)
	defer stopLoad()
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				status, code, err := c.token(loadCtx)
				if loadCtx.Err() != nil && err != nil {
					return // cut by the end of the run, not a failure
				}
				sent.Add(1)
				cs.add(status, code, err)
			}
		}()
	}
	var rounds, killed int64
	var killErrs []string
	if *killEvery > 0 {
		t := time.NewTicker(*killEvery)
	kill:
		for {
			select {
			case <-loadCtx.Done():
				break kill
			case <-t.C:
				n, err := terminateAll(loadCtx, admin, d.db)
				if err != nil {
					if loadCtx.Err() != nil {
						break kill
					}
					killErrs = append(killErrs, err.Error())
					continue
				}
				rounds++
				killed += n
			}
		}
		t.Stop()
	}
	wg.Wait()
	start := time.Now()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// Recovery: 50 answers in a row with 200, without any action.
	recovered, streak := false, 0
	deadline := time.Now().Add(*recoverWithin)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		status, _, err := c.token(ctx)
		if err == nil && status == http.StatusOK {
			if streak++; streak == 50 {
				recovered = true
				break
			}
			continue
		}
		streak = 0
		time.Sleep(50 * time.Millisecond)
	}

	cs.mu.Lock()
	defer cs.mu.Unlock()
	var other int64
	for st, n := range cs.status {
		if st != http.StatusOK && st != http.StatusServiceUnavailable {
			other += n
		}
	}
	var transport int64
	for _, n := range cs.errs {
		transport += n
	}
	fmt.Fprintf(out, "requests: %d in %s (%.0f/s)\n", sent.Load(), *duration, float64(sent.Load())/duration.Seconds())
	fmt.Fprintf(out, "200: %d\n503: %d\nother status: %d\ntransport errors: %d\n", cs.status[http.StatusOK], cs.status[http.StatusServiceUnavailable], other, transport)
	for _, k := range sortedKeys(cs.bodies) {
		fmt.Fprintf(out, "  status %s: %d\n", k, cs.bodies[k])
	}
	for _, k := range sortedKeys(cs.errs) {
		fmt.Fprintf(out, "  transport error %q: %d\n", k, cs.errs[k])
	}
	if *killEvery > 0 {
		fmt.Fprintf(out, "kill rounds: %d, backends terminated: %d\n", rounds, killed)
		for _, e := range killErrs {
			fmt.Fprintf(out, "  kill error: %s\n", e)
		}
	}
	if recovered {
		fmt.Fprintf(out, "recovered: yes (50 requests in a row answered 200, %.1fs after the load)\n", time.Since(start).Seconds())
	} else {
		fmt.Fprintf(out, "recovered: NO (no 50 answers in a row with 200 within %s)\n", *recoverWithin)
	}
	return recovered && other == 0 && transport == 0, nil
}

// terminateAll terminates every client backend of database db and returns
// how many it terminated.
func terminateAll(ctx context.Context, admin *pgx.Conn, db string) (int64, error) {
	var n int64
	err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, db).Scan(&n)
	return n, err
}

// waitUp waits until the server answers a token request with 200.
func waitUp(ctx context.Context, c *client, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last string
	for {
		status, code, err := c.token(ctx)
		if err == nil && status == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d %s", status, code)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server did not answer a token request with 200 within %s (last: %s): is it running on -url, with the demo clients?", within, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
