package app

import (
	"fmt"
	"net"

	"github.com/sip-phone-api/sipphone/internal/apitoken"
	"github.com/sip-phone-api/sipphone/internal/httpapi"
)

// authenticator builds the API's token check from api.auth and api.tokens
// (see config.API.Auth). It returns whether authentication is off.
func (a *App) authenticator() (*httpapi.Authenticator, bool, error) {
	log := a.log.With("component", "api")
	var tokens []httpapi.Token
	for _, t := range a.cfg.API.Tokens {
		tokens = append(tokens, httpapi.Token{Name: t.Name, Secret: t.Token})
	}
	mode := a.cfg.API.Auth
	if mode == "none" {
		if !isLoopbackHost(a.cfg.Server.EffectiveAPIHost()) {
			log.Warn("API AUTHENTICATION IS DISABLED (api.auth: none): anyone who can reach this host can ring the phone and listen to its microphone")
		}
		return httpapi.NewAuthenticator(nil, log), true, nil
	}
	if len(tokens) == 0 {
		tok, where, err := a.generatedToken()
		if err != nil {
			return nil, false, err
		}
		tokens = []httpapi.Token{{Name: "generated", Secret: tok}}
		log.Info("API token required from clients not on this host", "token_file", where, "print_it", "sipphone token")
	}
	auth := httpapi.NewAuthenticator(tokens, log)
	if mode != "token" && len(a.cfg.API.Tokens) == 0 {
		auth.OpenOnLoopback("; run `sipphone token` on the server to print it (clients on the server itself need none)")
	}
	return auth, false, nil
}

// generatedToken returns the token kept in the state directory, created at
// first start; without a state file it lives as long as the process.
func (a *App) generatedToken() (tok, where string, err error) {
	if a.cfg.Server.StateFile == "" {
		return apitoken.Ephemeral(), "none (no server.state_file: a new token each start)", nil
	}
	p := apitoken.Path(a.cfg.Server.StateFile)
	tok, created, err := apitoken.LoadOrCreate(p)
	if err != nil {
		return "", "", fmt.Errorf("api.auth: %w (or set api.tokens, or api.auth: none)", err)
	}
	if created {
		a.log.Info("generated the API token", "file", p)
	}
	return tok, p, nil
}

func isLoopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
