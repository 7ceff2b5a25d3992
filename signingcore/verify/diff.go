package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// checkChanges compares the signed revision with the final document and
// classifies what was changed after the signature.
func (v *verifier) checkChanges(f sigField, s *Signature, r *result) {
	cov := &s.Coverage
	cov.ChangesAfter = ModificationNone
	if cov.ByteRange == nil || cov.RevisionEnd <= 0 {
		return
	}
	if cov.WholeFile {
		return
	}
	old, err := v.prefix(cov.RevisionEnd)
	if err != nil {
		cov.ChangesAfter = ModificationChanged
		cov.Changes = []Change{{Kind: ChangeContent, Description: "无法读取签名时的文件版本"}}
		r.problem("无法读取签名时的文件版本，无法确认签名后的修改")
		return
	}
	cov.Changes = diffViews(old, v.final, cov.RevisionEnd)
	if len(cov.Changes) == 0 {
		// Bytes were appended, but no object of the document differs.
		r.note("签名后文件末尾追加了数据，但文档内容没有变化")
		return
	}
	cov.ChangesAfter = ModificationSignaturesOnly
	for _, c := range cov.Changes {
		if !c.Allowed {
			cov.ChangesAfter = ModificationChanged
			r.problem("签名后文件被修改：%s", c.Description)
		}
	}
}

// prefix returns the parsed document as it ended at end.
func (v *verifier) prefix(end int64) (*view, error) {
	if p, ok := v.prefixes[end]; ok {
		return p, nil
	}
	p, err := readView(v.data[:end])
	if err != nil {
		return nil, err
	}
	v.prefixes[end] = p
	return p, nil
}

// roles knows what the objects of the final document are, as far as the
// change rules need it.
type roles struct {
	acroForm, fields int
	dss              map[int]bool
	fieldName        map[int]string // field and widget objects -> field name
	fieldType        map[int]string
	sigValues        map[int]string // signature dictionaries -> field name
	formAP           map[int]string // appearance streams of non-signature widgets -> field name
	content          map[int]int    // page content streams (either view) -> page
	annots           map[int]int    // indirect /Annots arrays (either view) -> page
}

func newRoles(old, final *view) *roles {
	r := &roles{dss: map[int]bool{}, fieldName: map[int]string{}, fieldType: map[int]string{},
		sigValues: map[int]string{}, formAP: map[int]string{}, content: map[int]int{}, annots: map[int]int{}}
	cat := final.catalog()
	r.acroForm = refNum(cat["AcroForm"])
	if form := final.dict(cat["AcroForm"]); form != nil {
		r.fields = refNum(form["Fields"])
	}
	final.reachable(cat["DSS"], r.dss)
	final.forEachField(func(name string, num int, d types.Dict) {
		if num == 0 {
			return
		}
		ft := final.fieldType(d)
		r.fieldName[num], r.fieldType[num] = name, ft
		if ft == "Sig" {
			if vn := refNum(d["V"]); vn != 0 {
				r.sigValues[vn] = name
			}
			return
		}
		if ap := final.dict(d["AP"]); ap != nil {
			if n := refNum(d["AP"]); n != 0 {
				r.formAP[n] = name
			}
			for _, k := range []string{"N", "D", "R"} {
				if n := refNum(ap[k]); n != 0 {
					r.formAP[n] = name
				}
				if states, ok := final.resolve(ap[k]).(types.Dict); ok {
					for _, st := range states {
						if n := refNum(st); n != 0 {
							r.formAP[n] = name
						}
					}
				}
			}
		}
	})
	for _, vw := range []*view{old, final} {
		for i, pn := range vw.pages {
			pd := vw.dict(*types.NewIndirectRef(pn, 0))
			if pd == nil {
				continue
			}
			if n := refNum(pd["Annots"]); n != 0 {
				r.annots[n] = i + 1
			}
			if n := refNum(pd["Contents"]); n != 0 {
				r.content[n] = i + 1
			}
			for _, c := range vw.array(pd["Contents"]) {
				if n := refNum(c); n != 0 {
					r.content[n] = i + 1
				}
			}
		}
	}
	return r
}

// reachable adds every object reachable from o to set (bounded).
func (v *view) reachable(o types.Object, set map[int]bool) {
	var walk func(o types.Object, depth int)
	walk = func(o types.Object, depth int) {
		if depth > maxDepth || len(set) > maxFields {
			return
		}
		switch x := o.(type) {
		case types.IndirectRef:
			n := x.ObjectNumber.Value()
			if set[n] {
				return
			}
			set[n] = true
			walk(v.object(n), depth+1)
		case types.Dict:
			for _, e := range x {
				walk(e, depth+1)
			}
		case types.StreamDict:
			walk(x.Dict, depth+1)
		case types.Array:
			for _, e := range x {
				walk(e, depth+1)
			}
		}
	}
	walk(o, 0)
}

// diffViews lists the changes from old (the signed revision, ending at
// end) to final. Allowed structural updates (the catalog, AcroForm, field
// list and page /Annots growing by signature fields) are checked but not
// listed; new signatures, validation data and form fills are listed as
// allowed; everything else is listed as not allowed.
func diffViews(old, final *view, end int64) []Change {
	var out []Change
	add := func(kind string, allowed bool, num int, format string, args ...any) {
		out = append(out, Change{Kind: kind, Allowed: allowed, Object: num, Description: fmt.Sprintf(format, args...)})
	}
	if old.root != final.root {
		add(ChangeStructure, false, 0, "文档目录被替换")
	}
	if len(old.pages) != len(final.pages) {
		add(ChangeContent, false, 0, "页数由 %d 页变为 %d 页", len(old.pages), len(final.pages))
	}
	rl := newRoles(old, final)
	nums := map[int]bool{}
	for n := range old.xt.Table {
		nums[n] = true
	}
	for n := range final.xt.Table {
		nums[n] = true
	}
	sorted := make([]int, 0, len(nums))
	for n := range nums {
		if n > 0 {
			sorted = append(sorted, n)
		}
	}
	sort.Ints(sorted)
	dssListed := false
	for _, n := range sorted {
		oo, no := old.object(n), final.object(n)
		oldIn, newIn := inUse(old, n), inUse(final, n)
		switch {
		case !oldIn && !newIn:
			continue
		case oldIn && !newIn:
			if !structural(oo) {
				add(ChangeDeleted, false, n, "对象 %d%s被删除", n, typeHint(oo))
			}
			continue
		case !oldIn && newIn:
			if name, ok := rl.sigValues[n]; ok {
				if nameOf(final.dict(no)["Type"]) == "DocTimeStamp" {
					add(ChangeSignature, true, n, "追加了文档时间戳“%s”", name)
				} else {
					add(ChangeSignature, true, n, "追加了签名“%s”", name)
				}
			} else if rl.dss[n] && !dssListed {
				dssListed = true
				add(ChangeDSS, true, n, "追加了长期验证数据（DSS）")
			}
			continue
		}
		if sameLocation(old, final, n, end) || canon(oo) == canon(no) {
			continue
		}
		// A modified object.
		od, nd := old.dict(oo), final.dict(no)
		switch {
		case n == final.root:
			checkCatalog(old, final, od, nd, rl, add)
		case n == rl.acroForm:
			if why := checkAcroForm(old, final, od, nd); why != "" {
				add(ChangeStructure, false, n, "表单（AcroForm）被修改：%s", why)
			}
		case n == rl.fields:
			if !grownBy(old, final, old.array(oo), final.array(no), final.isSigField) {
				add(ChangeStructure, false, n, "表单域列表被修改（不只是追加签名域）")
			}
		case rl.dss[n]:
			if !dssListed {
				dssListed = true
				add(ChangeDSS, true, n, "更新了长期验证数据（DSS）")
			}
		case old.page[n] != 0:
			p := old.page[n]
			for _, k := range diffKeys(od, nd) {
				if k == "Annots" && grownBy(old, final, old.array(od["Annots"]), final.array(nd["Annots"]), final.isSigWidget) {
					continue
				}
				add(ChangeContent, false, n, "第 %d 页被修改（/%s）", p, k)
			}
		case rl.annots[n] != 0:
			if !grownBy(old, final, old.array(oo), final.array(no), final.isSigWidget) {
				add(ChangeContent, false, n, "第 %d 页的注释被修改（不只是追加签名）", rl.annots[n])
			}
		case rl.fieldName[n] != "" || rl.fieldType[n] != "":
			name, ft := rl.fieldName[n], rl.fieldType[n]
			keys := diffKeys(od, nd)
			onlyValue := subset(keys, "V", "AP", "AS")
			switch {
			case ft == "Sig" && onlyValue && od["V"] == nil:
				add(ChangeSignature, true, n, "签署了已有的空签名域“%s”", name)
			case ft == "Sig":
				add(ChangeContent, false, n, "签名域“%s”被修改", name)
			case onlyValue:
				add(ChangeFormFill, true, n, "表单域“%s”被填写", name)
			default:
				add(ChangeContent, false, n, "表单域“%s”被修改", name)
			}
		case rl.formAP[n] != "":
			add(ChangeFormFill, true, n, "表单域“%s”的外观被更新", rl.formAP[n])
		case rl.content[n] != 0:
			add(ChangeContent, false, n, "第 %d 页的内容被修改", rl.content[n])
		default:
			add(ChangeContent, false, n, "对象 %d%s被修改", n, typeHint(no))
		}
	}
	return out
}

// checkCatalog allows the catalog to change only in /AcroForm (by the
// AcroForm rule) and /DSS.
func checkCatalog(old, final *view, od, nd types.Dict, rl *roles, add func(string, bool, int, string, ...any)) {
	for _, k := range diffKeys(od, nd) {
		switch k {
		case "DSS":
		case "AcroForm":
			on, nn := refNum(od["AcroForm"]), refNum(nd["AcroForm"])
			if on != 0 && on == nn {
				continue // the same object, compared on its own
			}
			if why := checkAcroForm(old, final, old.dict(od["AcroForm"]), final.dict(nd["AcroForm"])); why != "" {
				add(ChangeStructure, false, final.root, "表单（AcroForm）被修改：%s", why)
			}
		default:
			add(ChangeStructure, false, final.root, "文档目录的 /%s 被修改", k)
		}
	}
}

// checkAcroForm allows an AcroForm to change only by signature fields
// added to /Fields and by /SigFlags; it returns why not otherwise.
func checkAcroForm(old, final *view, od, nd types.Dict) string {
	for _, k := range diffKeys(od, nd) {
		switch k {
		case "SigFlags":
		case "Fields":
			on, nn := refNum(od["Fields"]), refNum(nd["Fields"])
			if on != 0 && on == nn {
				continue
			}
			if !grownBy(old, final, old.array(od["Fields"]), final.array(nd["Fields"]), final.isSigField) {
				return "表单域列表不只是追加了签名域"
			}
		default:
			return "/" + k
		}
	}
	return ""
}

// grownBy reports that newA holds every element of oldA and otherwise only
// elements that satisfy allowed.
func grownBy(old, final *view, oldA, newA types.Array, allowed func(types.Object) bool) bool {
	count := map[string]int{}
	for _, o := range newA {
		count[canon(o)]++
	}
	for _, o := range oldA {
		k := canon(o)
		if count[k] == 0 {
			return false
		}
		count[k]--
	}
	for _, o := range newA {
		k := canon(o)
		if count[k] > 0 {
			count[k]--
			if !allowed(o) {
				return false
			}
		}
	}
	return true
}

// isSigField reports an indirect reference to a signature field.
func (v *view) isSigField(o types.Object) bool {
	if refNum(o) == 0 {
		return false
	}
	return v.fieldType(v.dict(o)) == "Sig"
}

// isSigWidget reports an indirect reference to a widget of a signature
// field.
func (v *view) isSigWidget(o types.Object) bool {
	if refNum(o) == 0 {
		return false
	}
	d := v.dict(o)
	return d != nil && nameOf(d["Subtype"]) == "Widget" && v.fieldType(d) == "Sig"
}

func inUse(v *view, n int) bool {
	e, ok := v.xt.Table[n]
	return ok && e != nil && !e.Free
}

// sameLocation reports that object n is read from the same bytes of the
// signed revision in both views, so it cannot differ.
func sameLocation(old, final *view, n int, end int64) bool {
	oe, ne := old.xt.Table[n], final.xt.Table[n]
	if oe.Compressed || ne.Compressed || oe.Offset == nil || ne.Offset == nil || *oe.Offset <= 0 {
		return false
	}
	og, ng := 0, 0
	if oe.Generation != nil {
		og = *oe.Generation
	}
	if ne.Generation != nil {
		ng = *ne.Generation
	}
	return *oe.Offset == *ne.Offset && og == ng && *ne.Offset < end
}

// structural reports cross-reference and object streams, which carry no
// content of their own.
func structural(o types.Object) bool {
	switch x := o.(type) {
	case types.ObjectStreamDict, types.XRefStreamDict:
		return true
	case types.StreamDict:
		t := nameOf(x.Dict["Type"])
		return t == "XRef" || t == "ObjStm"
	}
	return false
}

// canon is a canonical text of an object for comparison: dictionaries
// with sorted keys, streams by their dictionary and the hash of their
// encoded bytes.
func canon(o types.Object) string {
	switch x := o.(type) {
	case nil:
		return "null"
	case types.StreamDict:
		return streamCanon(x)
	case types.ObjectStreamDict:
		return "objstm"
	case types.XRefStreamDict:
		return "xref"
	}
	return o.PDFString()
}

func streamCanon(s types.StreamDict) string {
	sum := sha256.Sum256(s.Raw)
	return s.Dict.PDFString() + "stream" + hex.EncodeToString(sum[:])
}

// diffKeys returns the keys whose values differ between two dictionaries,
// sorted.
func diffKeys(a, b types.Dict) []string {
	var out []string
	for k, av := range a {
		if bv, ok := b[k]; !ok || canon(av) != canon(bv) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func subset(keys []string, allowed ...string) bool {
	for _, k := range keys {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return false
		}
	}
	return true
}

// typeHint names an object's /Type or /Subtype for messages, in
// parentheses, or is a space.
func typeHint(o types.Object) string {
	var d types.Dict
	switch x := o.(type) {
	case types.Dict:
		d = x
	case types.StreamDict:
		d = x.Dict
	default:
		return " "
	}
	hints := map[string]string{"Font": "字体", "XObject": "图像或表单对象", "Image": "图像", "Form": "表单对象",
		"Pages": "页面树", "Page": "页面", "Annot": "注释", "Catalog": "文档目录", "Metadata": "元数据", "ExtGState": "图形状态"}
	for _, k := range []string{"Subtype", "Type"} {
		if h, ok := hints[nameOf(d[k])]; ok {
			return "（" + h + "）"
		}
	}
	if t := nameOf(d["Type"]); t != "" {
		return "（/" + t + "）"
	}
	return " "
}
