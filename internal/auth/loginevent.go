package auth

import (
	"encoding/json"
	"time"

	"github.com/doorlog/doorlog/internal/doorlog"
)

// The catalog keys of a login attempt, whichever API it came through: a
// login is the same thing that happened, so BAS-IP and OLOID record it alike.
const (
	KeyLoginSucceeded = "successful_login_api_call"
	KeyLoginFailed    = "incorrect_login_api_call"
)

// loginModel is the model of a recorded login attempt. It never holds the
// username or the password; AccountType is empty (and the model {}) when
// the username does not exist. A summary of failed attempts not recorded
// one by one (see loginRecorder) has Count and Client instead.
type loginModel struct {
	AccountType doorlog.Role `json:"account_type,omitempty"`
	// Count is how many failed attempts the summary stands for.
	Count int64 `json:"count,omitempty"`
	// Client is the address key of the client they came from.
	Client string `json:"client,omitempty"`
}

// LoginEvent returns the event that records a login attempt at time at:
// the server's own when dev is nil, else that device's. acct is the account
// the username named, or nil. Category and priority are left to the
// caller's catalog.
func LoginEvent(at time.Time, ok bool, acct *doorlog.Account, dev *doorlog.Device) doorlog.Event {
	var m loginModel
	if acct != nil {
		m.AccountType = acct.Role
	}
	model, _ := json.Marshal(m) // a struct of one string cannot fail
	ev := doorlog.Event{Time: doorlog.TruncateMillis(at), Key: KeyLoginFailed, Model: model}
	if ok {
		ev.Key = KeyLoginSucceeded
	}
	if dev != nil {
		ev.DeviceID, ev.SiteID = dev.ID, dev.SiteID
	}
	return ev
}

// SummaryEvent returns the event that stands for count failed login
// attempts from client that were not recorded one by one, the last of
// them at at: a KeyLoginFailed event with the model {"count": count,
// "client": client}, the device's when dev is set, else the server's.
func SummaryEvent(at time.Time, count int64, client string, dev *doorlog.Device) doorlog.Event {
	model, _ := json.Marshal(loginModel{Count: count, Client: client}) // strings and a number cannot fail
	ev := doorlog.Event{Time: doorlog.TruncateMillis(at), Key: KeyLoginFailed, Model: model}
	if dev != nil {
		ev.DeviceID, ev.SiteID = dev.ID, dev.SiteID
	}
	return ev
}
