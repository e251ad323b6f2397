//! Every installed program (each crate under bin/) has a man page in man/ and a
//! line in README.md.

use std::fs;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn programs() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root().join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn every_program_has_a_man_page() {
    let progs = programs();
    assert!(progs.len() >= 4, "bin/ lists {progs:?}");
    for prog in progs {
        let found = (1..=8).any(|s| root().join(format!("man/man{s}/{prog}.{s}")).is_file());
        assert!(found, "{prog}: no man page man/manN/{prog}.N");
    }
}

#[test]
fn every_program_appears_in_the_readme() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for prog in programs() {
        assert!(
            readme.contains(&format!("`{prog}`")),
            "{prog}: not listed in README.md"
        );
    }
}
