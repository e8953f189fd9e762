#[test]
fn probe() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    for (name, text) in airun_codegen::read_dir(&dir, "bad").unwrap() {
        let r = airun_codegen::generate(&[(name.clone(), text)]);
        match r { Ok(_) => println!("{name}: OK"), Err(d) => for x in d { println!("{name} => {x}") } }
    }
    let files = airun_codegen::read_dir(&dir.join("dup_tool"), "bad/dup_tool").unwrap();
    if let Err(d) = airun_codegen::generate(&files) { for x in d { println!("dup => {x}") } }
    let files = airun_codegen::read_dir(&dir.join("../good"), "good").unwrap();
    println!("good => {:?}", airun_codegen::generate(&files).err());
}
