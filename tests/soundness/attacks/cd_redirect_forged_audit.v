(* attack: write fake Print Assumptions outputs where the old audit read them | false: bad | exit: 2 *)
Axiom ax : 1 = 2.
Theorem bad : 1 = 2.
Proof. exact ax. Qed.
Redirect "a0" Print Assumptions I.
Redirect "assumptions" Print Assumptions I.
Cd "$TMPDIR".
Redirect "a0" Print Assumptions I.
Redirect "locate0" Print Assumptions I.
Cd "..".
Redirect "a0" Print Assumptions I.
Redirect "assumptions" Print Assumptions I.
