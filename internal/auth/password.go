// Package auth signs people in: password hashes, console sessions with
// their CSRF tokens, the first administrator, and login rate limits.
//
// A session id is 32 random bytes, given to the browser in the cookie
// vigil_session; the state file keeps only its SHA-256, so a copy of the
// file signs nobody in. Sessions end after an idle time and after an
// absolute lifetime, at logout, and when their user is deleted or changes
// password.
package auth

import (
	"crypto/rand"
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/vigil-soc/vigil/internal/service"
)

// Password lengths accepted: bcrypt reads at most 72 bytes.
const (
	MinPassword = 8
	MaxPassword = 72
)

// Cost is the bcrypt cost of new password hashes (about 50-100 ms on
// one core).
const Cost = 11

// CheckPasswordRules returns an error in words (a service.InvalidError)
// when pw is too short, too long or not text.
func CheckPasswordRules(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return service.Invalidf("the password is not valid UTF-8 text")
	case utf8.RuneCountInString(pw) < MinPassword:
		return service.Invalidf("the password must have at least %d characters", MinPassword)
	case len(pw) > MaxPassword:
		return service.Invalidf("the password must be at most %d bytes long", MaxPassword)
	}
	return nil
}

// Passwords is service.Passwords with bcrypt: HashPassword and
// CheckPassword.
type Passwords struct{}

// Hash is HashPassword.
func (Passwords) Hash(pw string) (string, error) { return HashPassword(pw) }

// Check is CheckPassword.
func (Passwords) Check(hash, pw string) bool { return CheckPassword(hash, pw) }

// HashPassword returns the bcrypt hash of pw after checking it against
// CheckPasswordRules.
func HashPassword(pw string) (string, error) {
	if err := CheckPasswordRules(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), Cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when a user does not exist, so that a
// login for an unknown name takes as long as one with a wrong password.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("vigil-no-such-user"), Cost)
	return h
})

// CheckPassword reports whether pw matches hash. An empty hash (no such
// user) is compared against a dummy one and never matches.
func CheckPassword(hash, pw string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// RandomPassword returns a random password of 20 characters from an
// alphabet without look-alikes (about 110 bits).
func RandomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		b[i] = alphabet[randIntn(len(alphabet))]
	}
	return string(b)
}

func randIntn(n int) int {
	// rand.Int would allocate a big.Int; rejection sampling over a byte
	// is enough for an alphabet this small.
	var b [1]byte
	limit := 256 - 256%n
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand.Read never fails on supported platforms
		}
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
