(* attack: a comment between Cd and its folder hides the Cd from the vetting (exit 1 today, not the refusal); Cd moves the ML load path's current folder, where a core-looking micromega_plugin.cmxs waits (Coq 8.16 here still loads its own through findlib, so no code runs) | false: t | exit: 2 | plugin: forge_main_vo.ml=plugins/cd/micromega_plugin.cmxs *)
Cd (* where? *) "@CASE@/plugins/cd".
Declare ML Module "micromega_plugin:coq-core.plugins.micromega".
Theorem t : 1 = 2.
Proof. Admitted.
