(* attack: write fake Print Assumptions outputs next to the build, where the old audit read them | false: bad *)
Axiom ax : 1 = 2.
Theorem bad : 1 = 2.
Proof. exact ax. Qed.
Redirect "a0" Print Assumptions I.
Redirect "assumptions" Print Assumptions I.
Redirect "locate0" Print Assumptions I.
