//! Console users, sessions and tokens on both databases.

use secrecy::ExposeSecret;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::test_backends::each_backend;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000).expect("valid time")
}

const LIMITS: SessionLimits = SessionLimits {
    idle: Duration::minutes(60),
    absolute: Duration::hours(12),
};

fn admin(store: &Store) -> ConsoleUser {
    store
        .create_console_user(
            "Boss@Example.com",
            "correct horse",
            Role::Admin,
            UserAccount::New,
            t0(),
        )
        .expect("admin")
}

fn signed_in(store: &Store, email: &str, password: &str, at: OffsetDateTime) -> String {
    match store.sign_in(email, password, at).expect("sign in") {
        SignIn::Ok { token, .. } => token.expose_secret().to_owned(),
        other => panic!("not signed in: {other:?}"),
    }
}

each_backend! {
    fn a_bootstrapped_admin_signs_in_and_the_session_expires(store) {
        let user = admin(&store);
        assert_eq!((user.role, user.email.as_str(), user.active), (Role::Admin, "boss@example.com", true));
        let token = signed_in(&store, "boss@example.com", "correct horse", t0());
        assert!(is_token_shaped(&token));
        let s = store.console_session(&token, LIMITS, t0() + Duration::minutes(59)).expect("read");
        assert_eq!(s.map(|s| s.user.id), Some(user.id.clone()));
        // Idle: 59 minutes later again is fine (the last visit moved the clock) ...
        assert!(store.console_session(&token, LIMITS, t0() + Duration::minutes(118)).expect("read").is_some());
        // ... 61 idle minutes after that is not, and the session is gone for good.
        assert!(store.console_session(&token, LIMITS, t0() + Duration::minutes(180)).expect("read").is_none());
        assert!(store.console_session(&token, LIMITS, t0() + Duration::minutes(181)).expect("read").is_none());
    }

    fn the_absolute_limit_ends_an_active_session(store) {
        admin(&store);
        let token = signed_in(&store, "boss@example.com", "correct horse", t0());
        let mut at = t0();
        for _ in 0..12 {
            at += Duration::minutes(59);
            assert!(store.console_session(&token, LIMITS, at).expect("read").is_some());
        }
        at += Duration::minutes(59); // 12 h 48 min after sign-in, never idle an hour
        assert!(store.console_session(&token, LIMITS, at).expect("read").is_none());
    }

    fn only_the_hash_of_a_session_is_stored(store) {
        admin(&store);
        let token = signed_in(&store, "boss@example.com", "correct horse", t0());
        let stored: Vec<u8> = store
            .run(|c| c.query_one("SELECT token_hash FROM console_sessions", crate::sql::args![], |r| r.get(0)))
            .expect("row");
        assert_eq!(stored, crate::db::sha256(&token).to_vec());
        assert!(store.console_session(&stored.iter().map(|b| format!("{b:02x}")).collect::<String>(), LIMITS, t0()).expect("read").is_none());
    }

    fn wrong_passwords_lock_the_user_and_the_right_one_waits(store) {
        admin(&store);
        for i in 1..LOCK_AFTER {
            assert!(matches!(store.sign_in("boss@example.com", "wrong", t0()).expect("try"), SignIn::Wrong), "try {i}");
        }
        let SignIn::Locked { until } = store.sign_in("boss@example.com", "wrong", t0()).expect("try") else {
            panic!("the fifth wrong password locks");
        };
        assert_eq!(until, t0() + LOCK_FOR);
        assert!(matches!(
            store.sign_in("boss@example.com", "correct horse", t0() + Duration::minutes(14)).expect("try"),
            SignIn::Locked { .. }
        ));
        signed_in(&store, "boss@example.com", "correct horse", t0() + Duration::minutes(16));
        // A success clears the count: four more wrong tries do not lock.
        for _ in 1..LOCK_AFTER {
            assert!(matches!(store.sign_in("boss@example.com", "wrong", t0() + Duration::minutes(17)).expect("try"), SignIn::Wrong));
        }
    }

    fn unknown_users_and_unverified_accounts_cannot_sign_in(store) {
        assert!(matches!(store.sign_in("nobody@example.com", "whatever1", t0()).expect("try"), SignIn::Wrong));
        assert!(matches!(store.sign_in("not an e-mail", "whatever1", t0()).expect("try"), SignIn::Wrong));
        // Registered through the API but never verified: no sign-in.
        store.register("pending@example.com", "password123", t0()).expect("register");
        assert!(matches!(store.sign_in("pending@example.com", "password123", t0()).expect("try"), SignIn::Wrong));
    }

    fn an_accounts_owner_signs_in_as_its_admin(store) {
        let registration = store.register("owner@example.com", "password123", t0()).expect("register");
        let code = registration.code().expect("code").expose().to_owned();
        store.verify_email("owner@example.com", &code, "127.0.0.1", t0(), 0).expect("verify");
        assert!(matches!(store.sign_in("owner@example.com", "wrong-password", t0()).expect("try"), SignIn::Wrong));
        let SignIn::Ok { user, .. } = store.sign_in("Owner@Example.com", "password123", t0()).expect("try") else {
            panic!("the owner signs in");
        };
        assert_eq!(user.role, Role::Admin);
        assert_eq!(Some(user.account_id.clone()), store.account_id_by_email("owner@example.com").expect("id"));
        // The second sign-in finds the user made by the first.
        signed_in(&store, "owner@example.com", "password123", t0());
        assert_eq!(store.list_console_users(&user.account_id).expect("list").len(), 1);
    }

    fn an_invitation_is_used_once_and_sets_the_password(store) {
        let boss = admin(&store);
        let (invited, token) = store
            .invite_console_user(&boss.account_id, "rev@example.com", Role::Reviewer, &boss.email, t0())
            .expect("invite");
        assert!(!invited.active);
        assert!(matches!(store.sign_in("rev@example.com", "", t0()).expect("try"), SignIn::Wrong));
        let token = token.expose_secret().to_owned();
        assert_eq!(
            store.console_token_user(&token, TokenPurpose::Invite, t0()).expect("read").map(|u| u.email),
            Some("rev@example.com".to_owned())
        );
        // Not a reset token.
        assert!(store.redeem_console_token(&token, TokenPurpose::Reset, "password123", t0()).expect("try").is_none());
        let user = store
            .redeem_console_token(&token, TokenPurpose::Invite, "password123", t0())
            .expect("redeem")
            .expect("valid");
        assert!(user.active);
        assert_eq!(user.role, Role::Reviewer);
        assert!(store.redeem_console_token(&token, TokenPurpose::Invite, "password456", t0()).expect("try").is_none());
        signed_in(&store, "rev@example.com", "password123", t0());
        let again = store.invite_console_user(&boss.account_id, "REV@example.com", Role::Admin, &boss.email, t0());
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    }

    fn an_invitation_expires(store) {
        let boss = admin(&store);
        let (_, token) = store
            .invite_console_user(&boss.account_id, "late@example.com", Role::Reviewer, &boss.email, t0())
            .expect("invite");
        let late = t0() + INVITE_TTL + Duration::seconds(1);
        assert!(store.redeem_console_token(token.expose_secret(), TokenPurpose::Invite, "password123", late).expect("try").is_none());
    }

    fn a_reset_replaces_the_password_ends_sessions_and_unlocks(store) {
        admin(&store);
        let old_session = signed_in(&store, "boss@example.com", "correct horse", t0());
        for _ in 0..LOCK_AFTER {
            store.sign_in("boss@example.com", "wrong", t0()).expect("try");
        }
        assert!(store.request_password_reset("nobody@example.com", t0()).expect("ask").is_none());
        let (_, first) = store.request_password_reset("boss@example.com", t0()).expect("ask").expect("user");
        let (_, second) = store.request_password_reset("boss@example.com", t0()).expect("ask").expect("user");
        // Only the newest reset token works.
        assert!(store.redeem_console_token(first.expose_secret(), TokenPurpose::Reset, "new password", t0()).expect("try").is_none());
        store
            .redeem_console_token(second.expose_secret(), TokenPurpose::Reset, "new password", t0())
            .expect("redeem")
            .expect("valid");
        assert!(store.console_session(&old_session, LIMITS, t0()).expect("read").is_none());
        assert!(matches!(store.sign_in("boss@example.com", "correct horse", t0()).expect("try"), SignIn::Wrong));
        signed_in(&store, "boss@example.com", "new password", t0());
        let expired = store.request_password_reset("boss@example.com", t0()).expect("ask").expect("user").1;
        let late = t0() + RESET_TTL + Duration::seconds(1);
        assert!(store.redeem_console_token(expired.expose_secret(), TokenPurpose::Reset, "another one", late).expect("try").is_none());
        // A short password is refused before anything is used up.
        let short = store.request_password_reset("boss@example.com", t0()).expect("ask").expect("user").1;
        assert!(matches!(
            store.redeem_console_token(short.expose_secret(), TokenPurpose::Reset, "short", t0()),
            Err(StoreError::Invalid(_))
        ));
        assert!(store.redeem_console_token(short.expose_secret(), TokenPurpose::Reset, "long enough", t0()).expect("try").is_some());
    }

    fn a_password_change_keeps_this_session_and_ends_the_others(store) {
        let boss = admin(&store);
        let here = signed_in(&store, "boss@example.com", "correct horse", t0());
        let there = signed_in(&store, "boss@example.com", "correct horse", t0());
        assert!(!store.change_console_password(&boss.id, "wrong", "brand new pw", &here).expect("try"));
        assert!(store.change_console_password(&boss.id, "correct horse", "brand new pw", &here).expect("change"));
        assert!(store.console_session(&here, LIMITS, t0()).expect("read").is_some());
        assert!(store.console_session(&there, LIMITS, t0()).expect("read").is_none());
        signed_in(&store, "boss@example.com", "brand new pw", t0());
    }

    fn the_sweep_deletes_expired_sessions_and_tokens_only(store) {
        let boss = admin(&store);
        let old = signed_in(&store, "boss@example.com", "correct horse", t0());
        let fresh = signed_in(&store, "boss@example.com", "correct horse", t0() + Duration::minutes(50));
        store.invite_console_user(&boss.account_id, "x@example.com", Role::Reviewer, &boss.email, t0()).expect("invite");
        let (_, reset) = store.request_password_reset("boss@example.com", t0() + Duration::minutes(50)).expect("ask").expect("user");
        // 70 minutes on: the first session is idle past the hour, the second is not; the
        // reset (30 min) has expired, the invitation (72 h) has not.
        let purged = store.purge_console_sessions(LIMITS, t0() + Duration::minutes(110)).expect("purge");
        assert_eq!(purged, 2);
        let left: i64 = store
            .run(|c| c.query_one("SELECT count(*) FROM console_sessions", crate::sql::args![], |r| r.get(0)))
            .expect("count");
        assert_eq!(left, 1);
        assert!(store.console_session(&fresh, LIMITS, t0() + Duration::minutes(110)).expect("read").is_some());
        assert!(store.console_session(&old, LIMITS, t0() + Duration::minutes(10)).expect("read").is_none());
        assert!(store.console_token_user(reset.expose_secret(), TokenPurpose::Reset, t0()).expect("read").is_none());
    }

    fn users_are_listed_and_removed_per_account(store) {
        let boss = admin(&store);
        let other = store
            .create_console_user("other@example.com", "password123", Role::Admin, UserAccount::New, t0())
            .expect("other");
        let rev = store
            .create_console_user("rev@example.com", "password123", Role::Reviewer, UserAccount::OwnedBy("boss@example.com"), t0() + Duration::seconds(1))
            .expect("reviewer");
        assert_eq!(rev.account_id, boss.account_id);
        let emails: Vec<String> = store.list_console_users(&boss.account_id).expect("list").into_iter().map(|u| u.email).collect();
        assert_eq!(emails, ["boss@example.com", "rev@example.com"]);
        // Another account's admin cannot remove this account's user.
        assert!(!store.remove_console_user(&other.account_id, &rev.id).expect("try"));
        let token = signed_in(&store, "rev@example.com", "password123", t0());
        assert!(store.remove_console_user(&boss.account_id, &rev.id).expect("remove"));
        assert!(store.console_session(&token, LIMITS, t0()).expect("read").is_none());
        let missing = store.create_console_user("x@example.com", "password123", Role::Reviewer, UserAccount::OwnedBy("nobody@example.com"), t0());
        assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
    }
}

#[test]
fn roles_parse_from_their_stored_spelling_only() {
    assert_eq!("admin".parse::<Role>().ok(), Some(Role::Admin));
    assert_eq!("reviewer".parse::<Role>().ok(), Some(Role::Reviewer));
    assert!("Admin".parse::<Role>().is_err());
    assert!(is_token_shaped(&"a".repeat(43)));
    assert!(!is_token_shaped(&"a".repeat(42)));
    assert!(!is_token_shaped(&format!("{}=", "a".repeat(42))));
}
