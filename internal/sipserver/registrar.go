package sipserver

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sip-phone-api/sipphone"
)

// authenticate checks the request's credentials when authentication is on.
// It answers the challenge or refusal itself and returns false when the
// request must not be processed further. aor is the SIP user the request is
// for (the To user of a REGISTER, the From user of an INVITE).
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, aor string) bool {
	if !s.cfg.AuthEnabled {
		return true
	}
	res, authUser := s.auth.verify(req, func(authUser string) (string, bool) {
		if s.cfg.Password == nil {
			return "", false
		}
		return s.cfg.Password(aor, authUser)
	})
	src, _ := sourceAddr(req)
	switch res {
	case authOK:
		s.ban.Success(src)
		return true
	case authStale:
		s.respond(tx, req, sip.StatusUnauthorized, "Unauthorized", nil, s.auth.challenge(true))
	case authFailed:
		s.AuthFailures.Add(1)
		// One log line per failure, in a fixed form fail2ban can match.
		s.log.Warn(msgAuthFailed, "source", req.Source(), "method", req.Method, "user", aor, "auth_user", authUser)
		if s.ban.Fail(src) {
			logBanned(s.log, req.Source(), s.ban.Policy())
		}
		s.respond(tx, req, sip.StatusUnauthorized, "Unauthorized", nil, s.auth.challenge(false))
	default:
		s.respond(tx, req, sip.StatusUnauthorized, "Unauthorized", nil, s.auth.challenge(false))
	}
	return false
}

// onRegister is the registrar (RFC 3261 section 10.3): one binding per
// line, refreshed by each REGISTER, removed by Expires 0 or Contact *.
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil || to.Address.User == "" {
		s.respond(tx, req, sip.StatusBadRequest, "Bad Request: To header needs a user", nil)
		return
	}
	user := to.Address.User
	if !s.authenticate(req, tx, user) {
		return
	}
	if !s.cfg.Lines.IsLine(user) {
		s.log.Warn("REGISTER for a user that is not a configured line", "user", user, "source", req.Source())
		s.respond(tx, req, sip.StatusForbidden, "Forbidden: not a configured line", nil)
		return
	}
	defExpires := 3600
	hasExpiresHdr := false
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || v < 0 {
			s.respond(tx, req, sip.StatusBadRequest, "Bad Request: invalid Expires", nil)
			return
		}
		defExpires, hasExpiresHdr = v, true
	}
	contacts := req.GetHeaders("Contact")
	if len(contacts) == 0 { // a query: answer with the current binding
		s.respondBinding(tx, req, user)
		return
	}
	first, ok := contacts[0].(*sip.ContactHeader)
	if !ok {
		s.respond(tx, req, sip.StatusBadRequest, "Bad Request: unreadable Contact", nil)
		return
	}
	if first.Address.Wildcard {
		// RFC 3261 10.3 step 6: "*" only with Expires 0 and alone.
		if !hasExpiresHdr || defExpires != 0 || len(contacts) > 1 {
			s.respond(tx, req, sip.StatusBadRequest, "Bad Request: Contact * needs Expires: 0", nil)
			return
		}
		s.cfg.Lines.Unregister(user, "unregistered")
		s.respond(tx, req, sip.StatusOK, "OK", nil)
		return
	}
	expires := defExpires
	if v, ok := first.Params.Get("expires"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.respond(tx, req, sip.StatusBadRequest, "Bad Request: invalid expires parameter", nil)
			return
		}
		expires = n
	}
	if expires == 0 {
		s.cfg.Lines.Unregister(user, "unregistered")
		s.respond(tx, req, sip.StatusOK, "OK", nil)
		return
	}
	if expires < s.cfg.MinExpires {
		s.respond(tx, req, sip.StatusIntervalToBrief, "Interval Too Brief", nil,
			sip.NewHeader("Min-Expires", strconv.Itoa(s.cfg.MinExpires)))
		return
	}
	expires = min(expires, s.cfg.MaxExpires)
	now := s.cfg.Now()
	reg := sipphone.Registration{
		Contact:   first.Address.String(),
		Source:    req.Source(),
		Transport: strings.ToLower(req.Transport()),
		UserAgent: headerValue(req, "User-Agent"),
		Expires:   now.Add(time.Duration(expires) * time.Second),
	}
	if _, err := s.cfg.Lines.Register(user, reg); err != nil {
		if errors.Is(err, sipphone.ErrLineNotFound) {
			s.respond(tx, req, sip.StatusForbidden, "Forbidden: not a configured line", nil)
			return
		}
		s.respond(tx, req, sip.StatusInternalServerError, "Internal Server Error", nil)
		return
	}
	c := first.Clone()
	c.Params = sip.NewParams()
	c.Params.Add("expires", strconv.Itoa(expires))
	s.respond(tx, req, sip.StatusOK, "OK", nil, c, sip.NewHeader("Expires", strconv.Itoa(expires)),
		sip.NewHeader("Date", now.UTC().Format(http.TimeFormat)))
}

func (s *Server) respondBinding(tx sip.ServerTransaction, req *sip.Request, user string) {
	if reg, ok := s.cfg.Lines.Binding(user); ok {
		left := int(time.Until(reg.Expires).Seconds())
		s.respond(tx, req, sip.StatusOK, "OK", nil,
			sip.NewHeader("Contact", "<"+reg.Contact+">;expires="+strconv.Itoa(max(left, 0))))
		return
	}
	s.respond(tx, req, sip.StatusOK, "OK", nil)
}
