(* attack: a control prefix hides Admitted | false: bad *)
Theorem bad : 1 = 2.
Proof.
Time Admitted.
