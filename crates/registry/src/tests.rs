use super::*;

fn key(s: &str) -> Key {
    match Key::parse(s) {
        Ok(k) => k,
        Err(e) => panic!("{s:?}: {e}"),
    }
}

#[test]
fn key_parse() {
    let k = key("local:/api-backend-credentials/pizza/access_Token");
    assert_eq!(k.space, Space::Local);
    assert_eq!(k.path, "api-backend-credentials/pizza/access_Token");
    assert_eq!(k.prop, None);
    assert_eq!(
        key("conf:/a/b@p"),
        Key {
            space: Space::Conf,
            path: "a/b".into(),
            prop: Some("p".into())
        }
    );
    assert_eq!(key("gov:/a/b/@p"), key("gov:/a/b@p"));
    assert_eq!(key("a/b").space, Space::Gov);
    assert_eq!(key("/_system/config/x").path, "_system/config/x");
    assert_eq!(key("local:/a@b.example/c").prop, None);
    assert_eq!(key("local:/a@b.example/c").path, "a@b.example/c");
    assert_eq!(key("local:/x/./y//z/").path, "x/y/z");
    assert_eq!(key("local:/a/b@p").to_string(), "local:/a/b@p");
    for bad in [
        "local:/..",
        "local:/a/../b",
        "x\0",
        "",
        "gov:/",
        "local:/a@",
        "a\\b",
        "local:/a/.meta/b",
        "local:/.~tmp.1.2.x",
    ] {
        assert!(
            matches!(Key::parse(bad), Err(RegistryError::InvalidKey { .. })),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn memory_conformance() {
    let reg = MemoryRegistry::new();
    testing::conformance(&reg).await;
}

#[tokio::test]
async fn file_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    testing::conformance(&reg).await;
    assert_no_temp_files(dir.path());
    // nothing escaped the root: only the three space folders exist
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["conf", "gov", "local"]);
}

#[tokio::test]
async fn file_conformance_survives_reopen() {
    // the same checks, but every read after a write goes to a fresh instance (no cache)
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    reg.put("local:/p/q", "v1").await.unwrap();
    reg.put("local:/p/q@meta", "m").await.unwrap();
    reg.put("conf:/p/q", "c").await.unwrap();
    let again = FileRegistry::open(dir.path()).unwrap();
    assert_eq!(
        again.get("local:/p/q").await.unwrap().as_deref(),
        Some("v1")
    );
    assert_eq!(
        again.get("local:/p/q@meta").await.unwrap().as_deref(),
        Some("m")
    );
    assert_eq!(again.get("conf:/p/q").await.unwrap().as_deref(), Some("c"));
    assert_eq!(again.get("gov:/p/q").await.unwrap(), None);
}

fn assert_no_temp_files(root: &std::path::Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".~tmp"),
                "temp file left: {}",
                e.path().display()
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

#[tokio::test]
async fn writes_are_atomic_and_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    let k = key("local:/api-backend-credentials/pizza/generated_Time");
    for i in 0..50 {
        reg.put(
            "local:/api-backend-credentials/pizza/generated_Time",
            &format!("17000036{i:05}"),
        )
        .await
        .unwrap();
    }
    let on_disk = std::fs::read_to_string(reg.content_path(&k)).unwrap();
    assert_eq!(on_disk, "1700003600049");
    assert_eq!(
        reg.content_path(&k),
        dir.path()
            .join("local/api-backend-credentials/pizza/generated_Time")
    );
    reg.put(
        "local:/api-backend-credentials/pizza/generated_Time@note",
        "x",
    )
    .await
    .unwrap();
    let props = std::fs::read_to_string(reg.properties_path(&k)).unwrap();
    assert_eq!(props, "{\n  \"note\": \"x\"\n}\n");
    assert_eq!(
        reg.properties_path(&k),
        dir.path()
            .join("local/api-backend-credentials/pizza/.meta/generated_Time.properties.json")
    );
    assert_no_temp_files(dir.path());
}

#[tokio::test]
async fn concurrent_writers_leave_one_whole_value() {
    let dir = tempfile::tempdir().unwrap();
    let reg = std::sync::Arc::new(FileRegistry::open(dir.path()).unwrap());
    let long = |c: char| std::iter::repeat_n(c, 64 * 1024).collect::<String>();
    let mut tasks = Vec::new();
    for c in ['a', 'b', 'c', 'd'] {
        let reg = reg.clone();
        let v = long(c);
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                reg.put("local:/big", &v).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let cached = reg.get("local:/big").await.unwrap().unwrap();
    let on_disk = std::fs::read_to_string(dir.path().join("local/big")).unwrap();
    assert_eq!(
        cached, on_disk,
        "the cache holds what reached the disk last"
    );
    assert!(
        ["a", "b", "c", "d"]
            .iter()
            .any(|c| on_disk == c.repeat(64 * 1024)),
        "a mixed value"
    );
    assert_no_temp_files(dir.path());
}

#[tokio::test]
async fn reads_are_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    // a value written by hand before the first read is read through
    std::fs::create_dir_all(dir.path().join("local/creds")).unwrap();
    std::fs::write(dir.path().join("local/creds/token"), "hand-written").unwrap();
    assert_eq!(
        reg.get("local:/creds/token").await.unwrap().as_deref(),
        Some("hand-written")
    );
    assert_eq!(reg.disk_reads(), 1);
    for _ in 0..100 {
        assert_eq!(
            reg.get("local:/creds/token").await.unwrap().as_deref(),
            Some("hand-written")
        );
        assert_eq!(reg.get("local:/creds/token@p").await.unwrap(), None);
    }
    assert_eq!(reg.disk_reads(), 1, "steady state does no disk I/O");

    // intended: the registry is the only writer, so a file deleted behind its back is still
    // served from the cache until clear_cache()
    std::fs::remove_file(dir.path().join("local/creds/token")).unwrap();
    assert_eq!(
        reg.get("local:/creds/token").await.unwrap().as_deref(),
        Some("hand-written")
    );
    // missing values are cached too
    assert_eq!(reg.get("local:/creds/other").await.unwrap(), None);
    std::fs::write(dir.path().join("local/creds/other"), "late").unwrap();
    assert_eq!(reg.get("local:/creds/other").await.unwrap(), None);
    assert_eq!(reg.disk_reads(), 2);
    reg.clear_cache();
    assert_eq!(reg.get("local:/creds/token").await.unwrap(), None);
    assert_eq!(
        reg.get("local:/creds/other").await.unwrap().as_deref(),
        Some("late")
    );

    // writes update the cache: no disk read needed afterwards
    let before = reg.disk_reads();
    reg.put("local:/fresh", "v").await.unwrap();
    let after_put = reg.disk_reads();
    assert_eq!(reg.get("local:/fresh").await.unwrap().as_deref(), Some("v"));
    assert_eq!(reg.disk_reads(), after_put);
    assert!(after_put <= before + 1);
}

#[tokio::test]
async fn parsed_keys_are_remembered_within_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    reg.put("conf:/a/b", "v").await.unwrap();
    // spellings of one key are remembered apart and read the same resource
    for k in ["conf:/a/b", "conf:a/b", "conf:/a//b/"] {
        for _ in 0..3 {
            assert_eq!(reg.get(k).await.unwrap().as_deref(), Some("v"), "{k}");
        }
    }
    assert_eq!(reg.parsed_keys(), 3);
    // a key that does not parse is an error every time, and is not remembered
    for _ in 0..2 {
        assert!(reg.get("conf:/a/../b").await.is_err());
    }
    assert_eq!(reg.parsed_keys(), 3);
    // keys read from messages cannot grow the memo without bound
    for i in 0..3000 {
        assert_eq!(reg.get(&format!("conf:/n/{i}")).await.unwrap(), None);
    }
    assert!(reg.parsed_keys() <= 1024, "{}", reg.parsed_keys());
    assert_eq!(reg.get("conf:/a/b").await.unwrap().as_deref(), Some("v"));
}

#[tokio::test]
async fn corrupt_properties_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let reg = FileRegistry::open(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join("gov/.meta")).unwrap();
    std::fs::write(dir.path().join("gov/.meta/r.properties.json"), "[1,2").unwrap();
    let err = reg.get("gov:/r@p").await.unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt { .. }), "{err:?}");
}
