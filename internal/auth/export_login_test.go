package auth

// SetPasswordCheck replaces the password check of s's logins (CheckPassword)
// with check, so that a test can count the checks made.
func SetPasswordCheck(s *Service, check func(hash, given string) bool) {
	s.flow().check = check
}

// SetDummyHash replaces the hash s compares against for an unknown
// username, so that tests can use one of bcrypt's lowest cost.
func SetDummyHash(s *Service, hash string) {
	s.dummyHash = hash
}
