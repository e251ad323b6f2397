//! compile() then UserDb: what makeuserdb stores is what a lookup returns (§6.2).

use courier_userdb::{Record, UserDb, UserDbError, compile};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Db {
    _t: tempfile::TempDir,
    src: PathBuf,
    dat: PathBuf,
    shadow: PathBuf,
}

impl Db {
    fn loc(&self) -> String {
        courier_userdb::location_of(&self.src)
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn db_with(source: &str) -> Db {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("userdb");
    fs::write(&src, source).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
    let dat = t.path().join("userdb.dat");
    let shadow = t.path().join("userdbshadow.dat");
    Db {
        _t: t,
        src,
        dat,
        shadow,
    }
}

const ALICE: &str = "alice\toptions=disablepop3=0,group=staff|home=/home/vmail/alice|gid=5000\
|quota=1000000S|gecos=Alice Liddell,Room 1|uid=5000|mail=/home/vmail/alice/Maildir\
|systempw=$1$w77A|imappw=LaBlZ0iaO.Pug|hmac-md5pw=abcd\n5000=\talice\n";

#[test]
fn record_fields_split_between_files_and_merge_on_lookup() {
    let d = db_with(ALICE);
    let stats = compile(&d.src, &d.dat, &d.shadow).unwrap();
    assert_eq!(
        (stats.records, stats.shadow_records, stats.reverse_entries),
        (2, 1, 1)
    );
    assert_eq!(mode(&d.dat), 0o644);
    assert_eq!(mode(&d.shadow), 0o600);
    assert!(!d.src.with_file_name("userdb.tmp").exists());
    assert!(!d.src.with_file_name("userdbshadow.tmp").exists());

    let raw = courier_userdb::dat::DatFile::open(&d.dat).unwrap();
    assert_eq!(
        String::from_utf8(raw.get(b"alice").unwrap().unwrap()).unwrap(),
        format!(
            "options=disablepop3=0,group=staff|home=/home/vmail/alice|gid=5000|quota=1000000S\
|gecos=Alice Liddell,Room 1|uid=5000|mail=/home/vmail/alice/Maildir|_={}",
            d.loc()
        )
    );
    assert_eq!(
        raw.get(b"5000=").unwrap().unwrap(),
        format!("alice|_={}", d.loc()).as_bytes()
    );
    let raw = courier_userdb::dat::DatFile::open(&d.shadow).unwrap();
    assert_eq!(
        raw.get(b"alice").unwrap().unwrap(),
        b"systempw=$1$w77A|imappw=LaBlZ0iaO.Pug|hmac-md5pw=abcd"
    );

    let mut db = UserDb::open(&d.dat, Some(&d.shadow)).unwrap();
    let r = db.lookup("alice").unwrap().unwrap();
    assert_eq!(r.name(), "alice");
    assert_eq!(r.get("uid"), Some("5000"));
    assert_eq!(r.get("options"), Some("disablepop3=0,group=staff"));
    assert_eq!(r.get("imappw"), Some("LaBlZ0iaO.Pug"));
    assert_eq!(r.get("_"), Some(d.loc().as_str()));
    let names: Vec<&str> = r.fields().map(|(f, _)| f).collect();
    assert_eq!(
        names,
        [
            "options",
            "home",
            "gid",
            "quota",
            "gecos",
            "uid",
            "mail",
            "_",
            "systempw",
            "imappw",
            "hmac-md5pw"
        ]
    );
    assert_eq!(db.lookup("Alice").unwrap(), None);
    assert_eq!(db.lookup("alic").unwrap(), None);

    let mut all = Vec::new();
    db.for_each(&mut |r: &Record| all.push(r.clone())).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].get("systempw"),
        None,
        "enumeration carries no passwords"
    );
}

#[test]
fn missing_shadow_means_no_passwords_and_its_arrival_is_noticed() {
    let d = db_with(ALICE);
    compile(&d.src, &d.dat, &d.shadow).unwrap();
    let hidden = d.shadow.with_extension("hidden");
    fs::rename(&d.shadow, &hidden).unwrap();
    let mut db = UserDb::open(&d.dat, Some(&d.shadow)).unwrap();
    assert!(!db.has_shadow());
    assert_eq!(db.lookup("alice").unwrap().unwrap().get("systempw"), None);
    fs::rename(&hidden, &d.shadow).unwrap();
    assert_eq!(
        db.lookup("alice").unwrap().unwrap().get("systempw"),
        Some("$1$w77A")
    );
}

#[test]
fn rebuild_is_seen_by_an_open_reader_without_reopening() {
    let d = db_with("alice\tuid=1|home=/a|systempw=old\n");
    compile(&d.src, &d.dat, &d.shadow).unwrap();
    let mut db = UserDb::open(&d.dat, Some(&d.shadow)).unwrap();
    assert_eq!(db.lookup("bob").unwrap(), None);
    fs::write(
        &d.src,
        "alice\tuid=1|home=/a|systempw=new\nbob\tuid=2|home=/b\n",
    )
    .unwrap();
    compile(&d.src, &d.dat, &d.shadow).unwrap();
    assert_eq!(db.lookup("bob").unwrap().unwrap().get("uid"), Some("2"));
    assert_eq!(
        db.lookup("alice").unwrap().unwrap().get("systempw"),
        Some("new")
    );
}

#[test]
fn duplicate_name_fails_and_keeps_the_previous_build() {
    let d = db_with("alice\tuid=1|home=/a\n");
    compile(&d.src, &d.dat, &d.shadow).unwrap();
    fs::write(
        &d.src,
        "alice\tuid=1|home=/a\nbob\tuid=2\n# x\nalice\tuid=3|systempw=x\n",
    )
    .unwrap();
    let e = compile(&d.src, &d.dat, &d.shadow).unwrap_err();
    match &e {
        UserDbError::Duplicate {
            name,
            line,
            first_line,
            ..
        } => assert_eq!((name.as_str(), *line, *first_line), ("alice", 4, 1)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("userdb:4"), "{e}");
    assert!(!d.src.with_file_name("userdb.tmp").exists());
    let mut db = UserDb::open(&d.dat, Some(&d.shadow)).unwrap();
    assert_eq!(db.lookup("bob").unwrap(), None);
    assert_eq!(db.lookup("alice").unwrap().unwrap().get("uid"), Some("1"));
}

#[test]
fn odd_lines_are_stored_as_courier_stores_them() {
    let d = db_with(
        "# c\n\nnotab\n\tleadtab=1\nbob\t\ncarol\ta=1||b=2|||\ndave\tx|y=|systempw|pw=|zpw=q=r\nlast\tuid=9",
    );
    compile(&d.src, &d.dat, &d.shadow).unwrap();
    let dat = courier_userdb::dat::DatFile::open(&d.dat).unwrap();
    let shadow = courier_userdb::dat::DatFile::open(&d.shadow).unwrap();
    let mut got = Vec::new();
    dat.for_each(&mut |k, v| {
        got.push(format!(
            "{} => {}",
            String::from_utf8_lossy(k),
            String::from_utf8_lossy(v)
        ))
    })
    .unwrap();
    got.sort();
    // What Debian's makeuserdb stores for the same file (dumped with GDBM_File).
    let l = d.loc();
    assert_eq!(
        got,
        [
            format!("bob => _={l}"),
            format!("carol => a=1||b=2|_={l}"),
            format!("dave => x|y=|systempw|_={l}"),
            format!("last => uid=9|_={l}"),
            "notab => 1".to_string(),
        ]
    );
    assert_eq!(shadow.get(b"dave").unwrap().unwrap(), b"pw=|zpw=q=r");
    assert_eq!(shadow.get(b"notab").unwrap().unwrap(), b"1");
    assert_eq!(shadow.len(), 2);
}

#[test]
fn directory_source_records_each_file_location() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("userdb");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(src.join("f1"), "a\tuid=1|systempw=x\n").unwrap();
    fs::write(src.join("sub/f2"), "b\tuid=2\n").unwrap();
    let (dat, shadow) = (
        t.path().join("userdb.dat"),
        t.path().join("userdbshadow.dat"),
    );
    let stats = compile(&src, &dat, &shadow).unwrap();
    assert_eq!(stats.files, 2);
    let mut db = UserDb::open(&dat, Some(&shadow)).unwrap();
    // The location is the file name minus strlen("/etc/courier/userdb"): only meaningful
    // under the default path, as in Courier.
    let loc = |r: Record| r.get("_").map(str::to_string);
    let a = loc(db.lookup("a").unwrap().unwrap()).unwrap();
    assert_eq!(a, courier_userdb::location_of(&src.join("f1")));
    assert!(a.ends_with("/f1/"), "{a}");
}

#[test]
fn corrupt_database_is_an_error_naming_the_file() {
    let d = db_with(ALICE);
    compile(&d.src, &d.dat, &d.shadow).unwrap();
    let mut db = UserDb::open(&d.dat, Some(&d.shadow)).unwrap();
    let mut bytes = fs::read(&d.dat).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 1; // inside the last record
    let tmp = d.dat.with_extension("new");
    fs::write(&tmp, &bytes).unwrap();
    fs::rename(&tmp, &d.dat).unwrap();
    // The reader notices the replacement, and the damage is reported, never served.
    let e = db.lookup("5000=").unwrap_err();
    assert!(matches!(e, UserDbError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("userdb.dat"), "{e}");
    assert!(db.verify().is_err());
    fs::write(&d.dat, &bytes[..n / 2]).unwrap();
    let e = UserDb::open(&d.dat, None).unwrap_err();
    assert!(matches!(e, UserDbError::Truncated { .. }), "{e}");
    assert!(
        UserDb::open(&d.dat.with_extension("none"), None)
            .unwrap_err()
            .is_missing()
    );
}

/// 100,000 generated accounts: compile in seconds, look up fast, without a full scan.
#[test]
fn hundred_thousand_accounts_compile_and_look_up_fast() {
    const N: usize = 100_000;
    let mut text = String::with_capacity(N * 120);
    for i in 0..N {
        text.push_str(&format!(
            "user{i}@example.com\tuid={}|gid=5000|home=/home/vmail/user{i}|mail=/home/vmail/user{i}/Maildir\
|systempw=$6$salt{i}$hash|quota=1000000S\n",
            10000 + i
        ));
    }
    let d = db_with(&text);
    let start = Instant::now();
    let stats = compile(&d.src, &d.dat, &d.shadow).unwrap();
    let compiled = start.elapsed();
    assert_eq!(stats.records, N);

    let start = Instant::now();
    let mut db = UserDb::open(&d.dat, Some(&d.shadow)).unwrap();
    let opened = start.elapsed();
    let start = Instant::now();
    let probes = 2_000;
    for i in (0..N).step_by(N / probes) {
        let r = db.lookup(&format!("user{i}@example.com")).unwrap().unwrap();
        assert_eq!(r.get("uid"), Some((10000 + i).to_string().as_str()));
        assert_eq!(r.get("systempw"), Some(format!("$6$salt{i}$hash").as_str()));
    }
    assert_eq!(db.lookup("user100000@example.com").unwrap(), None);
    let per_lookup = start.elapsed() / probes as u32;
    let start = Instant::now();
    let mut count = 0;
    db.for_each(&mut |_| count += 1).unwrap();
    let enumerated = start.elapsed();
    assert_eq!(count, N);
    eprintln!(
        "100k accounts: compile {compiled:?}, open {opened:?}, lookup {per_lookup:?} each, \
         enumerate {enumerated:?}, userdb.dat {} bytes",
        fs::metadata(&d.dat).unwrap().len()
    );
    assert!(compiled.as_secs() < 10 && per_lookup.as_millis() < 5);
}
