(* attack: control prefixes stacked before Admitted and End, and a clean same-named constant after | false: M.bad | exit: 1 *)
Module M.
Theorem bad : 1 = 2.
Proof.
Timeout 5 Time Redirect "log" Time Admitted.
Redirect "x" Time End M.
Theorem bad : 1 = 1.
Proof. reflexivity. Qed.
