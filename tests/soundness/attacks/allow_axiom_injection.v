(* attack: an --allow-axiom value that is Coq source | false: bad | exit: 2 | args: --allow-axiom ax._Cd_"/tmp". *)
Axiom ax : 1 = 2.
Theorem bad : 1 = 2.
Proof. exact ax. Qed.
