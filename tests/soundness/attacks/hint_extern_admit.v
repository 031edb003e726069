(* attack: a hint that admits | false: t *)
#[export] Hint Extern 1 => admit : core.
Theorem t : 1 = 2.
Proof. auto. Qed.
