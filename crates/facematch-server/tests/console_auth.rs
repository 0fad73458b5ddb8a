//! The Business Console at the HTTP level: sign-in (CSRF, throttling, lockout, cookie
//! flags), sessions (expiry → back to where you were, sign-out), password reset and
//! invitations by e-mailed link, and Manual Checks (other accounts' decisions, deleted
//! decisions, CSRF on review, double submit, two reviewers, bad filters).

mod common;

use common::console::{self, account, add_user, get, hidden, post, save, set_cookie, sign_in};
use common::{off_runtime, TestApp};
use facematch_core::Status;
use facematch_store::{ExposeSecret, Role};

fn app() -> TestApp {
    TestApp::loading(|_| {})
}

#[tokio::test]
async fn a_page_without_a_session_sends_to_sign_in_and_back_to_it() {
    let app = app();
    let reply = get(&app, "/console/checks?status=Approved", "").await;
    assert_eq!(reply.status.as_u16(), 303);
    assert_eq!(
        reply.headers["location"],
        "/console/sign-in?next=%2Fconsole%2Fchecks%3Fstatus%3DApproved"
    );
    // A junk or unknown cookie is no session either.
    for cookie in ["fm_console=x", &format!("fm_console={}", "a".repeat(43))] {
        assert_eq!(
            get(&app, "/console/checks", cookie).await.status.as_u16(),
            303
        );
    }
    let acct = account(&app, "boss@example.com");
    let form = get(
        &app,
        "/console/sign-in?next=%2Fconsole%2Fchecks%3Fstatus%3DApproved",
        "",
    )
    .await;
    let pre = set_cookie(&form, "fm_csrf").expect("cookie");
    let next = hidden(&form.text(), "next").expect("next");
    assert_eq!(next, "/console/checks?status=Approved");
    let reply = post(
        &app,
        "/console/sign-in",
        &format!("fm_csrf={pre}"),
        &[
            ("csrf", &pre),
            ("email", &acct.email),
            ("password", console::PASSWORD),
            ("next", &next),
        ],
    )
    .await;
    assert_eq!(reply.status.as_u16(), 303);
    assert_eq!(reply.headers["location"], "/console/checks?status=Approved");
    let cookie = reply.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP without a proxy flag: {cookie}"
    );
}

#[tokio::test]
async fn sign_in_never_returns_outside_the_console() {
    let app = app();
    let acct = account(&app, "boss@example.com");
    let form = get(&app, "/console/sign-in", "").await;
    let pre = set_cookie(&form, "fm_csrf").expect("cookie");
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/v3/face-match/",
    ] {
        let reply = post(
            &app,
            "/console/sign-in",
            &format!("fm_csrf={pre}"),
            &[
                ("csrf", &pre),
                ("email", &acct.email),
                ("password", console::PASSWORD),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(reply.headers["location"], "/console/", "{next}");
    }
}

#[tokio::test]
async fn secure_cookies_behind_a_tls_proxy() {
    let app = TestApp::loading(|c| c.console_secure_cookie = true);
    account(&app, "boss@example.com");
    let form = get(&app, "/console/sign-in", "").await;
    assert!(form.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .contains("; Secure"));
}

#[tokio::test]
async fn sign_in_without_its_csrf_cookie_or_token_is_forbidden() {
    let app = app();
    let acct = account(&app, "boss@example.com");
    let form = get(&app, "/console/sign-in", "").await;
    let pre = set_cookie(&form, "fm_csrf").expect("cookie");
    let other = "b".repeat(43);
    for (cookie, token) in [
        (String::new(), pre.clone()),
        (format!("fm_csrf={pre}"), String::new()),
        (format!("fm_csrf={pre}"), other.clone()),
        (format!("fm_csrf={other}"), pre.clone()),
    ] {
        let reply = post(
            &app,
            "/console/sign-in",
            &cookie,
            &[
                ("csrf", &token),
                ("email", &acct.email),
                ("password", console::PASSWORD),
            ],
        )
        .await;
        assert_eq!(
            reply.status.as_u16(),
            403,
            "cookie {cookie:?} token {token:?}"
        );
        assert!(set_cookie(&reply, "fm_console").is_none());
    }
}

#[tokio::test]
async fn wrong_passwords_lock_the_user_then_the_address_limit_answers() {
    let app = TestApp::loading(|c| c.console_sign_in_per_15min = 7);
    let acct = account(&app, "boss@example.com");
    let form = get(&app, "/console/sign-in", "").await;
    let pre = set_cookie(&form, "fm_csrf").expect("cookie");
    let attempt = |password: &'static str| {
        let (app, pre, email) = (&app, pre.clone(), acct.email.clone());
        async move {
            post(
                app,
                "/console/sign-in",
                &format!("fm_csrf={pre}"),
                &[("csrf", &pre), ("email", &email), ("password", password)],
            )
            .await
        }
    };
    for _ in 0..4 {
        let r = attempt("wrong password").await;
        assert_eq!(r.status.as_u16(), 401);
        assert!(r.text().contains("Wrong e-mail or password."));
    }
    let locked = attempt("wrong password").await;
    assert_eq!(locked.status.as_u16(), 429);
    assert!(locked.headers.contains_key("retry-after"));
    // Locked: the right password is refused too.
    assert_eq!(attempt(console::PASSWORD).await.status.as_u16(), 429);
    assert_eq!(attempt(console::PASSWORD).await.status.as_u16(), 429);
    // The eighth try from this address in 15 minutes is refused before any password check.
    let limited = attempt(console::PASSWORD).await;
    assert_eq!(limited.status.as_u16(), 429);
    assert!(
        limited.text().contains("too many attempts"),
        "{}",
        limited.text()
    );
}

#[tokio::test]
async fn an_idle_session_ends_and_the_next_page_asks_to_sign_in() {
    let app = TestApp::loading(|c| c.console_idle_minutes = 30);
    let acct = account(&app, "boss@example.com");
    let store = app.store();
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(31);
    let token = off_runtime(
        || match store.sign_in(&acct.email, console::PASSWORD, long_ago) {
            Ok(facematch_store::SignIn::Ok { token, .. }) => token.expose_secret().to_owned(),
            other => panic!("{other:?}"),
        },
    );
    let reply = get(&app, "/console/queue", &format!("fm_console={token}")).await;
    assert_eq!(reply.status.as_u16(), 303);
    assert_eq!(
        reply.headers["location"],
        "/console/sign-in?next=%2Fconsole%2Fqueue"
    );
    // A fresh one works.
    let fresh = sign_in(&app, &acct.email, console::PASSWORD).await;
    assert_eq!(
        get(&app, "/console/queue", &fresh).await.status.as_u16(),
        200
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_and_needs_its_csrf_token() {
    let app = app();
    let acct = account(&app, "boss@example.com");
    let cookie = sign_in(&app, &acct.email, console::PASSWORD).await;
    let csrf = console::csrf(&app, &cookie).await;
    assert_eq!(
        post(&app, "/console/sign-out", &cookie, &[])
            .await
            .status
            .as_u16(),
        403
    );
    assert_eq!(
        post(&app, "/console/sign-out", &cookie, &[("csrf", "x")])
            .await
            .status
            .as_u16(),
        403
    );
    assert_eq!(
        get(&app, "/console/queue", &cookie).await.status.as_u16(),
        200
    );
    let out = post(&app, "/console/sign-out", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(out.status.as_u16(), 303);
    assert!(out.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .contains("Max-Age=0"));
    assert_eq!(
        get(&app, "/console/queue", &cookie).await.status.as_u16(),
        303
    );
}

#[tokio::test]
async fn one_sessions_csrf_token_does_not_work_for_another() {
    let app = app();
    let a = account(&app, "a@example.com");
    let id = save(&app, &a.key_id, Status::InReview, 50);
    let first = sign_in(&app, &a.email, console::PASSWORD).await;
    let second = sign_in(&app, &a.email, console::PASSWORD).await;
    let page = get(&app, &format!("/console/checks/{id}"), &first).await;
    let seen = hidden(&page.text(), "seen").expect("seen");
    let first_csrf = hidden(&page.text(), "csrf").expect("csrf");
    let reply = post(
        &app,
        &format!("/console/checks/{id}/review"),
        &second,
        &[
            ("csrf", &first_csrf),
            ("seen", &seen),
            ("verdict", "Approved"),
        ],
    )
    .await;
    assert_eq!(reply.status.as_u16(), 403);
    let missing = post(
        &app,
        &format!("/console/checks/{id}/review"),
        &second,
        &[("seen", &seen), ("verdict", "Approved")],
    )
    .await;
    assert_eq!(missing.status.as_u16(), 403);
    let store = app.store();
    let status = off_runtime(|| {
        store
            .account_decision(&a.id, &id)
            .expect("read")
            .expect("there")
            .decision
            .status()
    });
    assert_eq!(status, Status::InReview, "nothing was written");
}

#[tokio::test]
async fn a_review_updates_the_decision_its_history_and_the_api_once() {
    let app = app();
    let a = account(&app, "a@example.com");
    let id = save(&app, &a.key_id, Status::InReview, 50);
    let cookie = sign_in(&app, &a.email, console::PASSWORD).await;
    let queue = get(&app, "/console/queue", &cookie).await;
    assert!(queue.text().contains(&format!("/console/checks/{id}")));
    assert!(queue.text().contains("1 waiting"));
    let page = get(&app, &format!("/console/checks/{id}"), &cookie).await;
    assert_eq!(page.status.as_u16(), 200);
    assert_eq!(page.headers["cache-control"], "no-store");
    let (csrf, seen) = (
        hidden(&page.text(), "csrf").expect("csrf"),
        hidden(&page.text(), "seen").expect("seen"),
    );
    let fields = [
        ("csrf", csrf.as_str()),
        ("seen", seen.as_str()),
        ("verdict", "Approved"),
        ("comment", "same person <b>checked</b>"),
    ];
    let first = post(
        &app,
        &format!("/console/checks/{id}/review"),
        &cookie,
        &fields,
    )
    .await;
    assert_eq!(first.status.as_u16(), 303);
    // The same form again (a double submit): refused, nothing written, the first named.
    let again = post(
        &app,
        &format!("/console/checks/{id}/review"),
        &cookie,
        &fields,
    )
    .await;
    assert_eq!(again.status.as_u16(), 409);
    assert!(
        again.text().contains("a@example.com set it to Approved"),
        "{}",
        again.text()
    );
    let api = app
        .json(
            "GET",
            &format!("/v3/session/{id}/decision/"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(api.json["status"], "Approved");
    let reviews = api.json["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["user"], "a@example.com");
    assert_eq!(reviews[0]["comment"], "same person <b>checked</b>");
    let shown = get(&app, &format!("/console/checks/{id}"), &cookie)
        .await
        .text();
    assert!(
        shown.contains("same person &lt;b&gt;checked&lt;/b&gt;"),
        "the comment is escaped"
    );
    assert!(!get(&app, "/console/queue", &cookie)
        .await
        .text()
        .contains(&id));
}

#[tokio::test]
async fn a_second_reviewer_sees_who_decided_first() {
    let app = app();
    let a = account(&app, "a@example.com");
    add_user(&app, "a@example.com", "rev@example.com", Role::Reviewer);
    let id = save(&app, &a.key_id, Status::InReview, 50);
    let admin = sign_in(&app, &a.email, console::PASSWORD).await;
    let reviewer = sign_in(&app, "rev@example.com", console::PASSWORD).await;
    let both: Vec<(String, String)> =
        futures_util::future::join_all([&admin, &reviewer].map(|c| {
            let app = &app;
            let id = id.clone();
            async move {
                let page = get(app, &format!("/console/checks/{id}"), c).await.text();
                (
                    hidden(&page, "csrf").expect("csrf"),
                    hidden(&page, "seen").expect("seen"),
                )
            }
        }))
        .await;
    let decline = post(
        &app,
        &format!("/console/checks/{id}/review"),
        &reviewer,
        &[
            ("csrf", &both[1].0),
            ("seen", &both[1].1),
            ("verdict", "Declined"),
        ],
    )
    .await;
    assert_eq!(decline.status.as_u16(), 303);
    let approve = post(
        &app,
        &format!("/console/checks/{id}/review"),
        &admin,
        &[
            ("csrf", &both[0].0),
            ("seen", &both[0].1),
            ("verdict", "Approved"),
        ],
    )
    .await;
    assert_eq!(approve.status.as_u16(), 409);
    assert!(
        approve
            .text()
            .contains("rev@example.com set it to Declined"),
        "{}",
        approve.text()
    );
}

#[tokio::test]
async fn another_accounts_or_a_deleted_decision_is_a_clear_404() {
    let app = app();
    let a = account(&app, "a@example.com");
    let b = account(&app, "b@example.com");
    let theirs = save(&app, &b.key_id, Status::InReview, 50);
    let cookie = sign_in(&app, &a.email, console::PASSWORD).await;
    let csrf = console::csrf(&app, &cookie).await;
    let page = get(&app, &format!("/console/checks/{theirs}"), &cookie).await;
    assert_eq!(page.status.as_u16(), 404);
    assert!(page.text().contains("does not exist"));
    let seen = "1750000000000000000";
    let review = post(
        &app,
        &format!("/console/checks/{theirs}/review"),
        &cookie,
        &[("csrf", &csrf), ("seen", seen), ("verdict", "Approved")],
    )
    .await;
    assert_eq!(review.status.as_u16(), 404);
    assert!(!get(&app, "/console/checks", &cookie)
        .await
        .text()
        .contains(&theirs));
    // Deleted by its client meanwhile.
    let mine = save(&app, &a.key_id, Status::InReview, 50);
    let del = app
        .json(
            "DELETE",
            &format!("/v3/session/{mine}/delete/"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(del.status.as_u16(), 204, "{}", del.text());
    let gone = get(&app, &format!("/console/checks/{mine}"), &cookie).await;
    assert_eq!(gone.status.as_u16(), 404);
    assert!(gone.text().contains("deleted"));
    for junk in ["..%2F..%2Fetc", "x'%20OR%201=1", &"a".repeat(200)] {
        let r = get(&app, &format!("/console/checks/{junk}"), &cookie).await;
        assert_eq!(r.status.as_u16(), 404, "{junk}");
    }
}

#[tokio::test]
async fn bad_filters_and_forms_are_400_pages_not_500() {
    let app = app();
    let a = account(&app, "a@example.com");
    let id = save(&app, &a.key_id, Status::InReview, 50);
    let cookie = sign_in(&app, &a.email, console::PASSWORD).await;
    let csrf = console::csrf(&app, &cookie).await;
    for q in [
        "score_min=abc",
        "score_max=101",
        "from=2026-13-01",
        "status=Maybe",
        "after=junk",
        "after=1.a%27b",
    ] {
        let r = get(&app, &format!("/console/checks?{q}"), &cookie).await;
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.text());
        assert!(r.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html"));
    }
    assert_eq!(
        get(&app, "/console/queue?after=zzz", &cookie)
            .await
            .status
            .as_u16(),
        400
    );
    let uri = format!("/console/checks/{id}/review");
    for fields in [
        vec![
            ("csrf", csrf.as_str()),
            ("seen", "1"),
            ("verdict", "In Review"),
        ],
        vec![
            ("csrf", csrf.as_str()),
            ("seen", "not a time"),
            ("verdict", "Approved"),
        ],
        vec![("csrf", csrf.as_str()), ("verdict", "Approved")],
    ] {
        let r = post(&app, &uri, &cookie, &fields).await;
        assert_eq!(r.status.as_u16(), 400, "{fields:?}: {}", r.text());
    }
    let long = "x".repeat(10_001);
    let r = post(
        &app,
        &uri,
        &cookie,
        &[
            ("csrf", &csrf),
            ("seen", "1"),
            ("verdict", "Approved"),
            ("comment", &long),
        ],
    )
    .await;
    assert_eq!(r.status.as_u16(), 400);
    let huge = "x".repeat(200 * 1024);
    let r = post(&app, &uri, &cookie, &[("csrf", &csrf), ("comment", &huge)]).await;
    assert_eq!(r.status.as_u16(), 413, "{}", r.text());
}

#[tokio::test]
async fn filters_and_keyset_pages_show_the_right_rows() {
    let app = app();
    let a = account(&app, "a@example.com");
    let ids: Vec<String> = (0..55u8)
        .map(|i| save(&app, &a.key_id, Status::Approved, i))
        .collect();
    let cookie = sign_in(&app, &a.email, console::PASSWORD).await;
    let first = get(&app, "/console/checks", &cookie).await.text();
    assert!(first.contains("50 shown"));
    let next = first
        .split("href=\"/console/checks?")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a next page link")
        .replace("&amp;", "&");
    let second = get(&app, &format!("/console/checks?{next}"), &cookie)
        .await
        .text();
    assert!(second.contains("5 shown"), "{second}");
    // Newest first: the first five saved are on page two.
    for id in &ids[..5] {
        assert!(second.contains(id.as_str()));
        assert!(!first.contains(id.as_str()));
    }
    let filtered = get(&app, "/console/checks?score_min=10&score_max=12", &cookie)
        .await
        .text();
    assert!(filtered.contains("3 shown"), "{filtered}");
}

#[tokio::test]
async fn a_forgotten_password_is_reset_by_the_emailed_link_once() {
    let app = app();
    let a = account(&app, "a@example.com");
    let old = sign_in(&app, &a.email, console::PASSWORD).await;
    let form = get(&app, "/console/reset-password", "").await;
    let pre = set_cookie(&form, "fm_csrf").expect("cookie");
    let pre_cookie = format!("fm_csrf={pre}");
    for email in ["a@example.com", "nobody@example.com"] {
        let r = post(
            &app,
            "/console/reset-password",
            &pre_cookie,
            &[("csrf", &pre), ("email", email)],
        )
        .await;
        assert_eq!(r.status.as_u16(), 303, "the same answer for {email}");
        assert_eq!(r.headers["location"], "/console/sign-in?done=reset-sent");
    }
    assert!(app.outbox.last_code_for("nobody@example.com").is_none());
    let link = app
        .outbox
        .last_code_for("a@example.com")
        .expect("a link was sent");
    let token = link
        .strip_prefix("/console/reset?token=")
        .expect("reset link")
        .to_owned();
    assert_eq!(get(&app, &link, &pre_cookie).await.status.as_u16(), 200);
    let set = post(
        &app,
        "/console/reset",
        &pre_cookie,
        &[
            ("csrf", &pre),
            ("token", &token),
            ("password", "a brand new one"),
        ],
    )
    .await;
    assert_eq!(set.status.as_u16(), 303);
    assert_eq!(
        get(&app, "/console/queue", &old).await.status.as_u16(),
        303,
        "old sessions end"
    );
    let again = post(
        &app,
        "/console/reset",
        &pre_cookie,
        &[
            ("csrf", &pre),
            ("token", &token),
            ("password", "another one!"),
        ],
    )
    .await;
    assert_eq!(again.status.as_u16(), 404, "used once");
    sign_in(&app, &a.email, "a brand new one").await;
    assert_eq!(
        get(&app, "/console/reset?token=junk", "")
            .await
            .status
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn an_invitation_link_sets_the_invitees_password() {
    let app = app();
    let a = account(&app, "a@example.com");
    let store = app.store();
    let token = off_runtime(|| {
        store
            .invite_console_user(
                &a.id,
                "rev@example.com",
                Role::Reviewer,
                &a.email,
                time::OffsetDateTime::now_utc(),
            )
            .expect("invite")
            .1
            .expose_secret()
            .to_owned()
    });
    let page = get(&app, &format!("/console/invite?token={token}"), "").await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.text().contains("rev@example.com (reviewer)"));
    let pre = set_cookie(&page, "fm_csrf").expect("cookie");
    let short = post(
        &app,
        "/console/invite",
        &format!("fm_csrf={pre}"),
        &[("csrf", &pre), ("token", &token), ("password", "short")],
    )
    .await;
    assert_eq!(short.status.as_u16(), 400);
    let set = post(
        &app,
        "/console/invite",
        &format!("fm_csrf={pre}"),
        &[
            ("csrf", &pre),
            ("token", &token),
            ("password", "reviewer pw 1"),
        ],
    )
    .await;
    assert_eq!(set.status.as_u16(), 303);
    let cookie = sign_in(&app, "rev@example.com", "reviewer pw 1").await;
    let nav = get(&app, "/console/queue", &cookie).await.text();
    assert!(nav.contains("rev@example.com · reviewer"));
    assert!(
        !nav.contains("/console/keys"),
        "reviewers see no admin links"
    );
}

#[tokio::test]
async fn console_pages_carry_their_own_policy_and_assets_load() {
    let app = app();
    let a = account(&app, "a@example.com");
    let cookie = sign_in(&app, &a.email, console::PASSWORD).await;
    let page = get(&app, "/console/checks", &cookie).await;
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let css = get(&app, "/console/static/console.css", "").await;
    assert_eq!(css.status.as_u16(), 200);
    assert!(css.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/css"));
    assert!(css.text().contains(":focus-visible"));
    let js = get(&app, "/console/static/console.js", "").await;
    assert!(js.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    // The API's own policy stays the strict one.
    let api = app.json("GET", "/health/live", None, None).await;
    assert!(api.headers["content-security-policy"]
        .to_str()
        .expect("ascii")
        .starts_with("default-src 'none'; frame-ancestors"));
}
