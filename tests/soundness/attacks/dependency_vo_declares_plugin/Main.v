(* attack: a shipped Dep.vo was compiled from a source that declares a plugin by absolute path, and Dep.v was then replaced by a clean text (the .vo left newer); loading that .vo runs the plugin, which writes a clean Main.vo | false: t | plugin: forge_main_vo.ml=evil.cmxs | build: Dep.v | swap: Dep.v=Clean.txt *)
Require Dep.
Theorem t : 1 = 2.
Proof. Admitted.
