//! `kind = "mediate"`: a sequence run on a request, checked against what the source test asserts.

pub fn run(_case: &toml::Table) -> Result<(), String> {
    Err("the mediate runner is not written yet".into())
}
