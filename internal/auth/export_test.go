package auth

// TokenCacheTTL exposes tokenCacheTTL to the tests.
const TokenCacheTTL = tokenCacheTTL
