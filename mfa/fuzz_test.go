package mfa

import (
	"strings"
	"testing"
	"time"
)

func FuzzValidate(f *testing.F) {
	now := time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)
	f.Add(rfcSecret, Code(rfcSecret, now), now.Unix(), int64(0))
	f.Add(rfcSecret, Code(rfcSecret, now), now.Unix(), Counter(now))
	f.Add(rfcSecret, " 123 456 ", int64(59), int64(-1))
	f.Add([]byte{}, "000000", int64(0), int64(-5))
	f.Add([]byte("x"), "１２３４５６", int64(-1<<62), int64(1<<62))
	f.Add(rfcSecret, "94287082", int64(59), int64(0))
	f.Add(rfcSecret, strings.Repeat("9", 1000), int64(1<<40), int64(0))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, last int64) {
		tm := time.Unix(unix, 0)
		step, ok := Validate(secret, code, tm, last)
		if !ok {
			return
		}
		digits := strings.NewReplacer(" ", "", "\t", "").Replace(code)
		if len(digits) != 6 || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("accepted %q, not 6 ASCII digits", code)
		}
		if step <= last {
			t.Fatalf("accepted step %d <= last %d", step, last)
		}
		if d := step - Counter(tm); d < -1 || d > 1 {
			t.Fatalf("accepted step %d, %d from the current one", step, d)
		}
		if hotp(secret, uint64(step), 6) != digits {
			t.Fatalf("accepted %q for step %d whose code is another", code, step)
		}
	})
}
