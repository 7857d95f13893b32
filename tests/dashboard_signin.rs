//! Dashboard sign-in is throttled per client address: wrong tokens, one after another or in
//! parallel, make the address wait longer and longer, and other addresses are not held up.

mod common;
use common::Server;

/// A sign-in form's CSRF value and its cookie, as a browser gets them.
async fn form(client: &reqwest::Client, admin: &str) -> String {
    let r = client
        .get(format!("{admin}/dashboard/login"))
        .send()
        .await
        .unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("bascule_login="))
        .and_then(|c| c.split(';').next())
        .expect("login cookie")
        .to_string();
    cookie
}

async fn sign_in(client: &reqwest::Client, admin: &str, csrf: &str, token: &str) -> u16 {
    client
        .post(format!("{admin}/dashboard/login"))
        .header("cookie", format!("bascule_login={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&token={token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn wrong_tokens_are_throttled_per_address() {
    let srv = Server::start();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let csrf = form(&client, &srv.admin).await;
    assert_eq!(sign_in(&client, &srv.admin, &csrf, "wrong").await, 401);
    // At once again: the address must wait first.
    assert_eq!(sign_in(&client, &srv.admin, &csrf, "wrong").await, 429);
    // Even the right token waits its turn.
    assert_eq!(sign_in(&client, &srv.admin, &csrf, &srv.token).await, 429);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    // Twenty attempts in parallel: at most one of them is checked.
    let attempts = (0..20).map(|_| {
        let (client, admin, csrf) = (client.clone(), srv.admin.clone(), csrf.clone());
        tokio::spawn(async move { sign_in(&client, &admin, &csrf, "wrong").await })
    });
    let mut checked = 0;
    for a in attempts {
        match a.await.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 1, "{checked} parallel attempts were checked");
    // Another address is not held up (127.0.0.2 is loopback too).
    let other = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let csrf2 = form(&other, &srv.admin).await;
    assert_eq!(sign_in(&other, &srv.admin, &csrf2, &srv.token).await, 303);
}
