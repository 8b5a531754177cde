package sipserver

import (
	"time"

	"github.com/sip-phone-api/sipphone/internal/rtp"
	"github.com/sip-phone-api/sipphone/internal/sdp"
	"github.com/sip-phone-api/sipphone/internal/stream"
)

// startMedia starts the call's RTP and audio processing for the
// negotiated parameters. It must be called before the dialog is handed to
// the line owner, which hands its media to clients.
func (s *Server) startMedia(d *dialog, neg sdp.Negotiated) error {
	sess := rtp.NewSession(d.rtp, neg.Remote, d.peer)
	m, err := stream.Start(stream.Config{
		Session:         sess,
		Codec:           neg.Codec.Name,
		PT:              neg.Codec.PT,
		EventPT:         neg.EventPT,
		PTime:           time.Duration(neg.PTime) * time.Millisecond,
		JitterMax:       s.cfg.JitterMax,
		Timeout:         s.cfg.RTPTimeout,
		InbandDTMF:      s.cfg.InbandDTMF,
		ObserveCapture:  s.cfg.ObserveCapture,
		ObservePlayback: s.cfg.ObservePlayback,
		Logger:          d.log.With("component", "media"),
		OnPress: func(p stream.Press) {
			s.cfg.Lines.RecordPress(d.lineID, d.callID, p)
		},
		OnTimeout: func() {
			d.log.Warn("no RTP from the phone for the configured rtp_timeout; ending the call")
			s.cfg.Lines.CallEnded(d.callID, "rtp_timeout")
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.bye(s.ctx, d)
			}()
		},
	})
	if err != nil {
		return err
	}
	d.media = m
	return nil
}
