Inductive bool' : Type := t' | f'.
Definition negb' (b : bool') := match b with t' => f' | f' => t' end.
