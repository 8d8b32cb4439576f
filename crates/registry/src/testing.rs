//! A conformance suite every [`Registry`] implementation must pass (feature `testing`).
//! It panics with a message naming the failed expectation; call it from a test.

use crate::{Registry, RegistryError};

async fn get(reg: &dyn Registry, key: &str) -> Option<String> {
    match reg.get(key).await {
        Ok(v) => v,
        Err(e) => panic!("get({key:?}) failed: {e}"),
    }
}

async fn put(reg: &dyn Registry, key: &str, value: &str) {
    if let Err(e) = reg.put(key, value).await {
        panic!("put({key:?}) failed: {e}");
    }
}

async fn delete(reg: &dyn Registry, key: &str) {
    if let Err(e) = reg.delete(key).await {
        panic!("delete({key:?}) failed: {e}");
    }
}

/// Run every check against `reg`, which must start empty.
pub async fn conformance(reg: &dyn Registry) {
    // missing → None, content and property alike
    assert_eq!(get(reg, "local:/nothing/here").await, None);
    assert_eq!(get(reg, "local:/nothing/here@prop").await, None);
    delete(reg, "local:/nothing/here").await;
    delete(reg, "local:/nothing/here@prop").await;

    // round trip, overwrite, empty values
    put(reg, "local:/creds/api/access_Token", "tok-1").await;
    assert_eq!(
        get(reg, "local:/creds/api/access_Token").await.as_deref(),
        Some("tok-1")
    );
    put(reg, "local:/creds/api/access_Token", "tok-2").await;
    assert_eq!(
        get(reg, "local:/creds/api/access_Token").await.as_deref(),
        Some("tok-2")
    );
    put(reg, "local:/creds/api/empty", "").await;
    assert_eq!(
        get(reg, "local:/creds/api/empty").await.as_deref(),
        Some("")
    );
    put(reg, "local:/text/multi", "line 1\nline 2\n").await;
    assert_eq!(
        get(reg, "local:/text/multi").await.as_deref(),
        Some("line 1\nline 2\n")
    );

    // spaces are kept apart; no prefix = governance
    put(reg, "local:/same", "L").await;
    put(reg, "conf:/same", "C").await;
    put(reg, "gov:/same", "G").await;
    assert_eq!(get(reg, "local:/same").await.as_deref(), Some("L"));
    assert_eq!(get(reg, "conf:/same").await.as_deref(), Some("C"));
    assert_eq!(get(reg, "gov:/same").await.as_deref(), Some("G"));
    assert_eq!(get(reg, "same").await.as_deref(), Some("G"));
    assert_eq!(get(reg, "/same").await.as_deref(), Some("G"));

    // path normalization: repeated and trailing slashes, `.` segments, no leading slash
    put(reg, "conf:/a//b/./c/", "abc").await;
    assert_eq!(get(reg, "conf:a/b/c").await.as_deref(), Some("abc"));
    assert_eq!(get(reg, "conf:/a/b/c").await.as_deref(), Some("abc"));

    // properties: apart from the content, `/` before `@` ignored
    put(reg, "gov:/res@owner", "alice").await;
    assert_eq!(get(reg, "gov:/res@owner").await.as_deref(), Some("alice"));
    assert_eq!(get(reg, "gov:/res/@owner").await.as_deref(), Some("alice"));
    assert_eq!(
        get(reg, "gov:/res").await,
        None,
        "a property does not create content"
    );
    put(reg, "gov:/res", "body").await;
    put(reg, "gov:/res/@team", "core").await;
    assert_eq!(get(reg, "gov:/res").await.as_deref(), Some("body"));
    assert_eq!(get(reg, "gov:/res@team").await.as_deref(), Some("core"));
    assert_eq!(get(reg, "gov:/res@owner").await.as_deref(), Some("alice"));
    assert_eq!(
        get(reg, "local:/res@owner").await,
        None,
        "properties are per space"
    );
    delete(reg, "gov:/res@owner").await;
    assert_eq!(get(reg, "gov:/res@owner").await, None);
    assert_eq!(get(reg, "gov:/res@team").await.as_deref(), Some("core"));
    assert_eq!(get(reg, "gov:/res").await.as_deref(), Some("body"));
    delete(reg, "gov:/res").await;
    assert_eq!(get(reg, "gov:/res").await, None);
    assert_eq!(
        get(reg, "gov:/res@team").await,
        None,
        "deleting a resource drops its properties"
    );

    // names with spaces, unicode, dots and `@` in folder names
    put(reg, "local:/dir with space/ünï.txt", "u").await;
    assert_eq!(
        get(reg, "local:/dir with space/ünï.txt").await.as_deref(),
        Some("u")
    );
    put(reg, "local:/mail/a@b.example/x", "m").await;
    assert_eq!(
        get(reg, "local:/mail/a@b.example/x").await.as_deref(),
        Some("m")
    );

    // nested resources under one folder
    put(reg, "local:/tree/one", "1").await;
    put(reg, "local:/tree/two", "2").await;
    delete(reg, "local:/tree/one").await;
    assert_eq!(get(reg, "local:/tree/one").await, None);
    assert_eq!(get(reg, "local:/tree/two").await.as_deref(), Some("2"));

    // keys that would escape the root, or name nothing, are errors for every operation
    for bad in [
        "local:/../escape",
        "local:/a/../../escape",
        "..",
        "gov:/a/..",
        "local:/a\0b",
        "",
        "local:/",
        "conf:",
        "local:/a@",
        "local:/a\\..\\b",
        "local:/.meta/x",
    ] {
        for result in [
            reg.get(bad).await.map(|_| ()),
            reg.put(bad, "x").await,
            reg.delete(bad).await,
        ] {
            assert!(
                matches!(result, Err(RegistryError::InvalidKey { .. })),
                "{bad:?} must be an invalid key, got {result:?}"
            );
        }
    }
}
