(* attack: a comment between Load and the file name: the vetting does not follow the Load (it finds neither a string nor a word there) and Helper.v, which declares a plugin by absolute path, is never vetted | false: t | exit: 2 | plugin: forge_main_vo.ml=plugins/cmt2.cmxs *)
Load (* the helper *) Helper.
Theorem t : 1 = 2.
Proof. Admitted.
