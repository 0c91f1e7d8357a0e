//! The workspace keeps its structural rules (`cargo xtask tidy`): crate arrows point one way,
//! no two source files import each other, and set-train needs no front-end crate.

#[test]
fn the_workspace_is_tidy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let v = xtask::tidy::check(&root).unwrap();
    assert!(v.is_empty(), "structural rules broken:\n{}", v.join("\n"));
}
