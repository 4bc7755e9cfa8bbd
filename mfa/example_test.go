package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/storage/memory"
)

func ExampleTOTP() {
	ctx := context.Background()
	now := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	totp, err := mfa.NewTOTP(memory.New(), mfa.TOTPOptions{
		Issuer: "Example",
		Key:    make([]byte, 32), // use a real random key, kept outside the database
		Now:    func() time.Time { return now },
	})
	if err != nil {
		panic(err)
	}
	// A fixed demo secret; real users call Enroll and then Confirm.
	enrollment, err := totp.EnrollSecret(ctx, "alice", "alice@example.com", "JBSWY3DPEHPK3PXP")
	if err != nil {
		panic(err)
	}
	fmt.Println(enrollment.URI)

	// The code alice's authenticator app shows now.
	secret, _ := mfa.DecodeSecret(enrollment.Secret)
	code := mfa.Code(secret, now)
	fmt.Println(code)
	fmt.Println(totp.Verify(ctx, "alice", code))
	fmt.Println(errors.Is(totp.Verify(ctx, "alice", code), mfa.ErrInvalidCode)) // single use
	// Output:
	// otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1&digits=6&period=30
	// 615575
	// <nil>
	// true
}
