package storagetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// Run runs the conformance suite against the stores newStore returns, one
// subtest per case, named group/case (see the package documentation).
//
// newStore is called once at the start of every subtest with that subtest's
// t and must return an empty store that no other subtest uses; it registers
// any cleanup with t.Cleanup. Subtests run one after the other. The
// Transactions subtests run when the store implements [storage.Transactor],
// the Audit subtests when it implements [storage.AuditStore], and the
// DenyList subtests when it implements [storage.DenyListStore]; they are
// skipped otherwise.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					s := newStore(t)
					require.NotNil(t, s, "storagetest: newStore returned nil")
					requireEmpty(t, s)
					c.run(t, s)
				})
			}
		})
	}
}

// testCase is one subtest of the suite.
type testCase struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

// groups is the whole suite, in the order it runs. The names are stable:
// backends' CI and people's -run flags depend on them.
var groups = []struct {
	name  string
	cases []testCase
}{
	{"Clients", []testCase{
		{"CreateGetDelete", testClientsCreateGetDelete},
		{"UpdateAtomic", testClientsUpdateAtomic},
		{"List", testClientsList},
		{"Find", testClientsFind},
		{"FindPages", testClientsFindPages},
		{"DeleteRemovesGrants", testClientsDeleteRemovesGrants},
		{"Version", testClientsVersion},
	}},
	{"Tokens", []testCase{
		{"CreateGetDelete", testTokensCreateGetDelete},
		{"KindsAreSeparate", testTokensKindsAreSeparate},
		{"GetReturnsInactiveAndExpired", testTokensGetReturnsInactiveAndExpired},
		{"SessionBytesRoundTrip", testTokensSessionBytesRoundTrip},
		{"FormRoundTrip", testTokensFormRoundTrip},
		{"TokenSet", testTokensTokenSet},
		{"Status", testTokensStatus},
	}},
	{"AuthCodes", []testCase{
		{"ConsumeOnce", testAuthCodesConsumeOnce},
		{"ConsumeRevoked", testAuthCodesConsumeRevoked},
		{"ConsumeOnlyAuthCodes", testAuthCodesConsumeOnlyAuthCodes},
		{"Consume50Concurrent", testAuthCodesConsume50Concurrent},
	}},
	{"Refresh", []testCase{
		{"Rotate", testRefreshRotate},
		{"RotateRace", testRefreshRotateRace},
		{"RotateDeletesLinkedAccessToken", testRefreshRotateDeletesLinkedAccessToken},
		{"ReuseRevokesFamily", testRefreshReuseRevokesFamily},
	}},
	{"RevokeFamily", []testCase{
		{"AccessTokens", testRevokeFamily(storage.KindAccessToken)},
		{"RefreshTokens", testRevokeFamily(storage.KindRefreshToken)},
	}},
	{"RevokeLoginGrants", []testCase{
		{"EveryKind", testRevokeLoginGrants},
		{"LaterTokens", testRevokeLoginGrantsLaterTokens},
	}},
	{"RevokeUserClientGrants", []testCase{
		{"EveryKind", testRevokeUserClientGrants},
		{"LaterTokens", testRevokeUserClientGrantsLaterTokens},
	}},
	{"ListGrants", []testCase{
		{"NewestPerClient", testListGrantsNewestPerClient},
	}},
	{"JTI", []testCase{
		{"SingleUse", testJTISingleUse},
		{"SingleUse50Concurrent", testJTISingleUse50Concurrent},
		{"ReusableAfterExpiry", testJTIReusableAfterExpiry},
	}},
	{"Consents", []testCase{
		{"SaveGetRevoke", testConsentsSaveGetRevoke},
		{"SaveReplaces", testConsentsSaveReplaces},
		{"ListBySubject", testConsentsListBySubject},
	}},
	{"Sessions", []testCase{
		{"CreateGetDelete", testSessionsCreateGetDelete},
		{"DeleteBySubject", testSessionsDeleteBySubject},
		{"ListBySubject", testSessionsListBySubject},
	}},
	{"AuthFlows", []testCase{
		{"CreateGetDelete", testAuthFlowsCreateGetDelete},
		{"Update", testAuthFlowsUpdate},
		{"Update50Concurrent", testAuthFlowsUpdate50Concurrent},
	}},
	{"Keys", []testCase{
		{"CreateListDelete", testKeysCreateListDelete},
		{"ListOrder", testKeysListOrder},
		{"UpdateAtomic", testKeysUpdateAtomic},
	}},
	{"MFA", []testCase{
		{"CreateGetDelete", testMFACreateGetDelete},
		{"UpdateAtomic", testMFAUpdateAtomic},
		{"Update50Concurrent", testMFAUpdate50Concurrent},
		{"SingleUseCounter50Concurrent", testMFASingleUseCounter50Concurrent},
	}},
	{"Throttles", []testCase{
		{"CreateByUpdate", testThrottlesCreateByUpdate},
		{"UpdateErrorWritesNothing", testThrottlesUpdateErrorWritesNothing},
		{"ZeroRemoves", testThrottlesZeroRemoves},
		{"Update50Concurrent", testThrottlesUpdate50Concurrent},
	}},
	{"Expiry", []testCase{
		{"DeleteExpired", testExpiryDeleteExpired},
		{"Boundary", testExpiryBoundary},
	}},
	{"Time", []testCase{
		{"UTCRoundTrip", testTimeUTCRoundTrip},
		{"ZonesCompareByInstant", testTimeZonesCompareByInstant},
	}},
	{"Context", []testCase{
		{"Canceled", testContextCanceled},
		{"DeadlineExceeded", testContextDeadlineExceeded},
	}},
	{"Errors", []testCase{
		{"Sentinels", testErrorsSentinels},
	}},
	{"Transactions", []testCase{
		{"RollbackDiscardsEveryWrite", withTx(testTxRollbackDiscardsEveryWrite)},
		{"ReadsSeeOwnWrites", withTx(testTxReadsSeeOwnWrites)},
		{"CommitKeepsEveryWrite", withTx(testTxCommitKeepsEveryWrite)},
		{"NestedBeginTx", withTx(testTxNestedBeginTx)},
		{"ContextCanceled", withTx(testTxContextCanceled)},
		{"ConsumeWaitsForCommit", withTx(testTxHeld(consumeCode, true))},
		{"ConsumeWaitsForRollback", withTx(testTxHeld(consumeCode, false))},
		{"RotateWaitsForCommit", withTx(testTxHeld(rotateRefresh, true))},
		{"RotateWaitsForRollback", withTx(testTxHeld(rotateRefresh, false))},
		{"ConsumeRace", withTx(testTxRace(consumeCode))},
		{"RotateRace", withTx(testTxRace(rotateRefresh))},
		{"RevokeLoginGrantsAfterConsume", withTx(testTxRevokeLoginGrants(consumeCode))},
		{"RevokeLoginGrantsAfterRotate", withTx(testTxRevokeLoginGrants(rotateRefresh))},
		{"RevokeUserClientGrantsAfterConsume", withTx(testTxRevokeUserClientGrants(consumeCode))},
		{"RevokeUserClientGrantsAfterRotate", withTx(testTxRevokeUserClientGrants(rotateRefresh))},
		{"DeferredInserts", withTx(testTxDeferredInserts)},
	}},
	{"APIKeys", []testCase{
		{"CreateGetDelete", withAPIKeys(testAPIKeysCreateGetDelete)},
		{"Find", withAPIKeys(testAPIKeysFind)},
		{"UpdateAtomic", withAPIKeys(testAPIKeysUpdateAtomic)},
		{"RotateRace", withAPIKeys(testAPIKeysRotateRace)},
		{"Touch", withAPIKeys(testAPIKeysTouch)},
		{"ApplicationOwner", withAPIKeys(testAPIKeysApplicationOwner)},
		{"Isolation", withAPIKeys(testAPIKeysIsolation)},
	}},
	{"ApplicationUsers", []testCase{
		{"CreateGetDelete", withAppUsers(testAppUsersCreateGetDelete)},
		{"ListOrder", withAppUsers(testAppUsersListOrder)},
		{"UpdateAtomic", withAppUsers(testAppUsersUpdateAtomic)},
		{"DeleteRemovesKeys", withAppUsers(testAppUsersDeleteRemovesKeys)},
		{"Isolation", withAppUsers(testAppUsersIsolation)},
		{"ContextCanceled", withAppUsers(testPrincipalsContext(canceled, context.Canceled))},
		{"ContextDeadlineExceeded", withAppUsers(testPrincipalsContext(pastDeadline, context.DeadlineExceeded))},
	}},
	{"Audit", []testCase{
		{"AppendFind", withAudit(testAuditAppendFind)},
		{"Order", withAudit(testAuditOrder)},
		{"Filters", withAudit(testAuditFilters)},
		{"Pages", withAudit(testAuditPages)},
		{"Retention", withAudit(testAuditRetention)},
		{"Isolation", withAudit(testAuditIsolation)},
		{"Context", withAudit(testAuditContext)},
		{"Transaction", withAudit(testAuditTransaction)},
	}},
	{"DenyList", []testCase{
		{"Denied", withDenyList(testDenyListDenied)},
		{"Merge", withDenyList(testDenyListMerge)},
		{"Expiry", withDenyList(testDenyListExpiry)},
		{"Context", withDenyList(testDenyListContext)},
	}},
	{"Isolation", []testCase{
		{"InputsAreCopied", testIsolationInputsAreCopied},
		{"ReturnedValuesAreCopies", testIsolationReturnedValuesAreCopies},
		{"UpdateValuesAreCopies", testIsolationUpdateValuesAreCopies},
	}},
}

// requireEmpty stops a subtest whose store is not empty, which would
// otherwise fail later with a confusing ErrAlreadyExists.
func requireEmpty(t *testing.T, s storage.Store) {
	t.Helper()
	clients, err := s.ListClients(t.Context())
	require.NoError(t, err, "ListClients on a new store")
	require.Empty(t, clients, "newStore must return an empty store")
	keys, err := s.ListSigningKeys(t.Context())
	require.NoError(t, err, "ListSigningKeys on a new store")
	require.Empty(t, keys, "newStore must return an empty store")
}
