fn main() {
    airun_codegen::build_script("specs");
}
