(* attack: Load finds sub/Helper.v through the load path's subfolders (-Q . "" maps them too), where the vetting looks only in the mapped folders themselves, so the plugin Helper.v declares is never vetted | false: t | exit: 2 | plugin: forge_main_vo.ml=plugins/cmt3.cmxs *)
Load Helper.
Theorem t : 1 = 2.
Proof. Admitted.
