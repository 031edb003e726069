(* attack: a comment between the keywords of the plugin declaration hides it from the vetting's regular expression (Coq's lexer skips comments); the plugin (absolute path, built there by the harness) recompiles a clean Main.v to coqc's -o path, so t : 1 = 2 is reported proved | false: t | exit: 2 | plugin: forge_main_vo.ml=plugins/cmt1.cmxs *)
Declare (* hidden *) ML Module "@CASE@/plugins/cmt1:evil.plugin".
Theorem t : 1 = 2.
Proof. Admitted.
