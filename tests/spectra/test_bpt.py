"""bpt.py extensions for Lu et al. 2022: the H II diagnostic and the [N II]-diagram Seyfert/LINER split."""
import numpy as np
import pytest

from skysift.spectra.bpt import classify_bpt, hii_diagnostic, hii_diagnostic_usable


def test_hii_diagnostic_either_side_of_the_line():
    x = np.array([-1.0, -0.5, 0.0, 0.3])  # log([N II]/Ha)
    line = 0.63 * x - 0.55  # Lu et al. 2022 section 4.2.2, written out again
    ha = np.ones(4)
    above = hii_diagnostic(ha, 10**x, 10 ** (line + 0.01))
    below = hii_diagnostic(ha, 10**x, 10 ** (line - 0.01))
    assert above.all() and not below.any()


def test_hii_diagnostic_unusable_fluxes():
    ha = np.array([1.0, 0.0, 1.0, np.nan])
    nii = np.array([-1.0, 0.5, 0.5, 0.5])
    sii = np.array([1.0, 1.0, 0.0, 1.0])
    assert not hii_diagnostic(ha, nii, sii).any()
    assert not hii_diagnostic_usable(ha, nii, sii).any()


def test_schawinski_split_on_the_nii_diagram():
    x = np.array([0.0, 0.1, 0.2, 0.3])  # right of Kauffmann; y chosen above Kewley 2001 everywhere
    split = 1.05 * x + 0.45  # Schawinski et al. 2007
    one = np.ones(4)
    sey = classify_bpt(one, 10 ** (split + 0.05), one, 10**x, seyfert_liner="schawinski07")
    lin = classify_bpt(one, 10 ** np.maximum(split - 0.05, 0.61 / (np.minimum(x, 0.46) - 0.47) + 1.25), one, 10**x,
                       seyfert_liner="schawinski07")
    assert list(sey) == ["seyfert"] * 4
    assert list(lin) == ["liner"] * 4
    # the default keeps the Kewley 2006 behaviour: no [S II] / [O I] -> 'agn'
    assert list(classify_bpt(one, 10 ** (split + 0.05), one, 10**x)) == ["agn"] * 4
    with pytest.raises(ValueError, match="seyfert_liner"):
        classify_bpt(one, one, one, one, seyfert_liner="heckman80")
