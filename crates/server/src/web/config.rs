//! The `[server.web]` table: sessions and sign-in throttling of the web
//! interface.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// Settings of the web interface. Every key is optional; unknown keys are
/// errors.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Serves the web interface at `/`. Default true.
    pub enabled: bool,
    /// Sends cookies with the `Secure` attribute, so browsers return them
    /// only over HTTPS. Default: on unless the listen address is loopback;
    /// turn it on when a TLS proxy in front of a loopback listener serves
    /// the interface.
    pub secure_cookies: Option<bool>,
    /// Minutes without a request after which a session ends. Default 30.
    pub session_idle_minutes: u64,
    /// Hours after sign-in at which a session ends, whatever its use. Default 12.
    pub session_hours: u64,
    /// Failed sign-ins in a row after which each further failure locks the
    /// account. Default 5.
    pub login_attempts: u32,
    /// Minutes an account stays locked after a failure past `login_attempts`.
    /// Default 15.
    pub lockout_minutes: u64,
    /// Failed sign-ins from one client address, over every name, after
    /// which that address may not sign in until `address_window_minutes`
    /// have passed since its oldest counted failure. It slows password
    /// spraying, which tries one password against many names and so never
    /// locks an account. 0 turns it off, which suits a listener behind a
    /// proxy that hides the client addresses. Default 20.
    pub address_attempts: u32,
    /// The window of `address_attempts`, in minutes. Default 15.
    pub address_window_minutes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            secure_cookies: None,
            session_idle_minutes: 30,
            session_hours: 12,
            login_attempts: 5,
            lockout_minutes: 15,
            address_attempts: 20,
            address_window_minutes: 15,
        }
    }
}

/// The longest session or lock the store accepts: 30 days.
const MAX_MINUTES: u64 = 30 * 24 * 60;

impl WebConfig {
    /// Checks the bounds of each value.
    pub fn validate(&self) -> Result<(), String> {
        let minutes = [
            ("server.web.session_idle_minutes", self.session_idle_minutes),
            ("server.web.session_hours", self.session_hours.saturating_mul(60)),
            ("server.web.lockout_minutes", self.lockout_minutes),
            ("server.web.address_window_minutes", self.address_window_minutes),
        ];
        for (key, value) in minutes {
            if value == 0 || value > MAX_MINUTES {
                return Err(format!("{key} is out of range: set a time between 1 minute and 30 days"));
            }
        }
        if self.session_idle_minutes > self.session_hours.saturating_mul(60) {
            return Err(format!(
                "server.web.session_idle_minutes ({}) is longer than server.web.session_hours ({}): \
                 set it to at most {} minutes",
                self.session_idle_minutes,
                self.session_hours,
                self.session_hours.saturating_mul(60)
            ));
        }
        if self.login_attempts == 0 {
            return Err("server.web.login_attempts is 0: set at least 1".to_owned());
        }
        Ok(())
    }

    /// Returns whether cookies get the `Secure` attribute on `listen`.
    pub fn secure_cookies_on(&self, listen: SocketAddr) -> bool {
        self.secure_cookies.unwrap_or(!listen.ip().is_loopback())
    }

    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_minutes.saturating_mul(60))
    }

    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_hours.saturating_mul(3600))
    }

    pub fn lockout(&self) -> Duration {
        Duration::from_secs(self.lockout_minutes.saturating_mul(60))
    }

    pub fn address_window(&self) -> Duration {
        Duration::from_secs(self.address_window_minutes.saturating_mul(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookies_default_off_on_loopback() {
        let config = WebConfig::default();

        assert!(!config.secure_cookies_on(SocketAddr::from(([127, 0, 0, 1], 8025))));
        assert!(config.secure_cookies_on(SocketAddr::from(([0, 0, 0, 0], 8025))));
    }

    #[test]
    fn idle_longer_than_lifetime_rejected() {
        let config = WebConfig { session_idle_minutes: 120, session_hours: 1, ..WebConfig::default() };

        let error = config.validate().expect_err("idle over lifetime");

        assert!(error.contains("session_idle_minutes (120)"), "{error}");
    }

    #[test]
    fn zero_attempts_rejected() {
        let config = WebConfig { login_attempts: 0, ..WebConfig::default() };

        assert!(config.validate().is_err());
    }
}
