//! Generates this crate's capability set from `specs/`, as airun's own build does.

fn main() {
    airun_codegen::build_script("specs");
}
