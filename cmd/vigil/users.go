package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/vigil-soc/vigil/internal/auth"
	"github.com/vigil-soc/vigil/internal/service"
	"github.com/vigil-soc/vigil/internal/storage"
	"github.com/vigil-soc/vigil/internal/timefmt"
)

const (
	usersSynopsis = `vigil users list   [--data DIR | --server URL [--token T]] [--timezone ZONE]
       vigil users add    [--role admin|analyst|viewer] [--password-file FILE] [--data DIR | --server URL] NAME
       vigil users passwd [--password-file FILE] [--data DIR | --server URL] NAME
       vigil users delete [--data DIR | --server URL] NAME`
	usersAbout = `Manages the console's users. With --server, through the API of a running
vigil (as its API token: --token, $VIGIL_TOKEN or the token file in --data);
without, by opening <data>/state.db directly, which works only while no vigil
runs on that data directory (the file is locked by the server: then use
--server). Changes are audited (actor "cli" when direct, "token" through the
API). Passwords are read from --password-file (its first line), else from
the terminal (asked twice, not echoed) or one line of standard input; never
from the command line. list shows times with their offset, in --timezone
(default: display.timezone of --config, else this machine's zone).`
)

// usersCmd manages console users (service.Users), directly on the state
// file or through a running server's API.
func usersCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return groupUsage(args, "Usage: "+usersSynopsis+"\n\n"+usersAbout+"\n", stdout, stderr)
	}
	sub := args[0]
	switch sub {
	case "list", "add", "passwd", "delete":
	default:
		return groupUsage(args, "Usage: "+usersSynopsis+"\n\n"+usersAbout+"\n", stdout, stderr)
	}
	fs := newFlagSet("users "+sub, usersSynopsis, usersAbout, stderr)
	data, server, token := stateFlags(fs)
	role := fs.String("role", "viewer", "role of a new user: admin, analyst or viewer")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file")
	cfgFile, zoneName := configZoneFlags(fs)
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	want := 1
	if sub == "list" {
		want = 0
	}
	if fs.NArg() != want {
		fs.Usage()
		return errUsage
	}
	name := fs.Arg(0)
	var pw string
	if sub == "add" || sub == "passwd" {
		var err error
		if pw, err = readPassword(stdin, stderr, *pwFile, name); err != nil {
			return err
		}
	}
	var us userAdmin
	if *server != "" {
		tok, err := findToken(*token, *data)
		if err != nil {
			return err
		}
		us = &remoteUsers{server: *server, token: tok}
	} else {
		db, err := openState(*data)
		if err != nil {
			return err
		}
		defer db.Close()
		us = &localUsers{u: service.NewUsers(db, auth.Passwords{}, nil),
			a: service.Actor{Name: "cli", Role: service.RoleAdmin, Via: "cli"}}
	}
	switch sub {
	case "list":
		loc, err := fileZone(*zoneName, *cfgFile)
		if err != nil {
			return err
		}
		list, err := us.list(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tLANGUAGE\tZONE\tCREATED\tPASSWORD SET")
		for _, u := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, orDash(u.Lang), orDash(u.Zone),
				timefmt.Format(u.Created, loc), timefmt.Format(u.PasswordSet, loc))
		}
		return tw.Flush()
	case "add":
		if err := us.add(ctx, name, *role, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", name, *role)
	case "passwd":
		if err := us.passwd(ctx, name, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; its sessions ended\n", name)
	case "delete":
		if err := us.delete(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", name)
	}
	return nil
}

// stateFlags adds the flags of the commands that change the state file
// directly or through a running server: --data, --server and --token.
func stateFlags(fs *flag.FlagSet) (data, server, token *string) {
	data = fs.String("data", "vigil-data", "data directory (its state.db, or its API token with --server)")
	server = fs.String("server", os.Getenv("VIGIL_SERVER"), "a running vigil's API base URL, e.g. http://127.0.0.1:8514 (env VIGIL_SERVER); empty: open state.db directly")
	token = fs.String("token", "", "API token with --server (default: env VIGIL_TOKEN, else the token file in --data)")
	return data, server, token
}

// openState opens the state file of data directory data.
func openState(data string) (*storage.DB, error) {
	db, err := storage.Open(filepath.Join(data, storage.FileName))
	if err != nil {
		return nil, fmt.Errorf("%w\n(while vigil runs on this data directory, pass --server http://ADDR to go through its API)", err)
	}
	return db, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readPassword reads a new password: the file's first line, or twice from
// the terminal without echo, or one line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer, file, name string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimSuffix(line, "\r"), nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "New password for %s: ", name)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(a, b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", errors.New("no password on standard input (or use --password-file)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// userAdmin is what the users commands do, on the file or through the API.
type userAdmin interface {
	list(ctx context.Context) ([]service.UserInfo, error)
	add(ctx context.Context, name, role, pw string) error
	passwd(ctx context.Context, name, pw string) error
	delete(ctx context.Context, name string) error
}

// localUsers works on the state file.
type localUsers struct {
	u *service.Users
	a service.Actor
}

func (l *localUsers) list(ctx context.Context) ([]service.UserInfo, error) { return l.u.List(ctx, l.a) }
func (l *localUsers) add(ctx context.Context, name, role, pw string) error {
	return l.u.Add(ctx, l.a, name, service.Role(role), pw)
}
func (l *localUsers) passwd(ctx context.Context, name, pw string) error {
	return l.u.SetPassword(ctx, l.a, name, "", pw, "")
}
func (l *localUsers) delete(ctx context.Context, name string) error {
	return l.u.Delete(ctx, l.a, name)
}

// remoteUsers goes through /api/v1/users.
type remoteUsers struct {
	server, token string
}

func (r *remoteUsers) call(ctx context.Context, method, path string, in, out any) error {
	return apiJSON(ctx, method, r.server, path, r.token, in, out)
}

func (r *remoteUsers) list(ctx context.Context) ([]service.UserInfo, error) {
	var out struct{ Users []service.UserInfo }
	err := r.call(ctx, http.MethodGet, "/api/v1/users", nil, &out)
	return out.Users, err
}

func (r *remoteUsers) add(ctx context.Context, name, role, pw string) error {
	return r.call(ctx, http.MethodPost, "/api/v1/users", map[string]string{"name": name, "role": role, "password": pw}, nil)
}

func (r *remoteUsers) passwd(ctx context.Context, name, pw string) error {
	return r.call(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(name), map[string]string{"password": pw}, nil)
}

func (r *remoteUsers) delete(ctx context.Context, name string) error {
	return r.call(ctx, http.MethodDelete, "/api/v1/users/"+url.PathEscape(name), nil, nil)
}
