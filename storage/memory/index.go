package memory

import (
	"hash/maphash"
	"iter"
	"slices"
)

// tokenIndex finds the tokens of a name (a request ID, a sign-in, a
// subject). It keys on a 64-bit hash of the name, so that its main map
// holds no pointer (see arena): names that share a hash share an entry,
// and every reader checks the name in the token's record. Most names have
// one token (a client_credentials token is a family of its own), kept in
// one; the keys after the first are in more.
type tokenIndex struct {
	seed maphash.Seed
	one  map[uint64]tokenKey
	more map[uint64][]tokenKey
}

func newTokenIndex() tokenIndex {
	return tokenIndex{seed: maphash.MakeSeed(), one: map[uint64]tokenKey{}, more: map[uint64][]tokenKey{}}
}

// hash returns the hash under which the keys of name are filed.
func (x *tokenIndex) hash(name string) uint64 { return maphash.String(x.seed, name) }

// hashID returns the hash of the ID id (the same as hash of its text).
func (x *tokenIndex) hashID(id recID) uint64 {
	var buf [36]byte
	return maphash.Bytes(x.seed, id.text(&buf))
}

// add files k under the hash h of its name.
func (x *tokenIndex) add(h uint64, k tokenKey) {
	if _, ok := x.one[h]; !ok {
		x.one[h] = k
		return
	}
	x.more[h] = append(x.more[h], k)
}

// remove takes k from under the hash h of its name.
func (x *tokenIndex) remove(h uint64, k tokenKey) {
	rest := x.more[h]
	if first, ok := x.one[h]; ok && first == k {
		if len(rest) == 0 {
			delete(x.one, h)
			return
		}
		x.one[h] = rest[0]
		rest = rest[1:]
	} else {
		rest = slices.DeleteFunc(rest, func(o tokenKey) bool { return o == k })
	}
	if len(rest) == 0 {
		delete(x.more, h)
	} else {
		x.more[h] = rest
	}
}

// keys yields the keys filed under the hash h of a name, those of every
// name of that hash: the caller checks the name in each token's record.
// The caller does not change the index while it iterates.
func (x *tokenIndex) keys(h uint64) iter.Seq[tokenKey] {
	return func(yield func(tokenKey) bool) {
		first, ok := x.one[h]
		if !ok || !yield(first) {
			return
		}
		for _, k := range x.more[h] {
			if !yield(k) {
				return
			}
		}
	}
}
