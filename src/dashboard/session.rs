//! Dashboard sessions: signing in with the admin token gives a random session id in an
//! HttpOnly, SameSite=Strict cookie and a CSRF token every form carries. Sessions live in
//! memory (a restart signs everyone out) and end after idling or after a fixed lifetime.

use rand::RngCore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the dashboard keeps besides the admin state: sessions and the charts' histories.
#[derive(Default)]
pub struct Dashboard {
    pub sessions: Sessions,
    pub lag: Arc<super::lag::LagHistory>,
    pub traffic: Arc<super::traffic::TrafficHistory>,
    pub usage: Arc<super::capacity::UsageHistory>,
    /// Cookies carry `Secure` when the admin listener serves TLS.
    pub secure_cookies: bool,
    pub sign_in: super::throttle::SignInThrottle,
}

pub const COOKIE: &str = "bascule_session";
/// The sign-in form's own CSRF value, compared with the form field (double submit): there
/// is no session yet to hold it.
pub const LOGIN_COOKIE: &str = "bascule_login";

const IDLE: Duration = Duration::from_secs(30 * 60);
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Beyond this many sessions the oldest is dropped: memory stays bounded whoever signs in.
const MAX_SESSIONS: usize = 1000;

#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
    /// A message for the next page shown (the outcome of the last action).
    flash: Option<Flash>,
}

#[derive(Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Session {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.last_seen) > IDLE || now.duration_since(self.created) > LIFETIME
    }
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

pub fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

impl Sessions {
    pub fn create(&self) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_token(),
            csrf: random_token(),
            created: now,
            last_seen: now,
            flash: None,
        };
        let mut map = self.lock();
        map.retain(|_, s| !s.expired(now));
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .values()
                .min_by_key(|s| s.last_seen)
                .map(|s| s.id.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session with this id, touched; expired ones are removed.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if s.expired(now) {
            map.remove(id);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn set_flash(&self, id: &str, ok: bool, text: String) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(Flash { ok, text });
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave a map half-changed: recover it.
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cookie's value from the request's Cookie headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A Set-Cookie value for the dashboard's path; `None` clears the cookie.
pub fn set_cookie(name: &str, value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{name}={v}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{name}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_id_and_end() {
        let s = Sessions::default();
        let a = s.create();
        assert_eq!(s.get(&a.id).map(|x| x.csrf), Some(a.csrf.clone()));
        assert!(s.get("nope").is_none());
        s.set_flash(&a.id, true, "done".into());
        assert_eq!(s.take_flash(&a.id).map(|f| f.text), Some("done".into()));
        assert!(s.take_flash(&a.id).is_none());
        s.end(&a.id);
        assert!(s.get(&a.id).is_none());
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = http::HeaderMap::new();
        h.append("cookie", "a=1; bascule_session=xyz".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
