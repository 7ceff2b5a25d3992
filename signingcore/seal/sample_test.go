package seal

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"signet/signingcore/font"
)

var sampleDir = flag.String("samples", "", "write sample seal PNGs to this directory")

// TestWriteSamples writes sample images for a person to look at (-samples DIR).
func TestWriteSamples(t *testing.T) {
	if *sampleDir == "" {
		t.Skip("set -samples DIR to write sample PNGs")
	}
	f, err := font.Parse()
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(f)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, img Image, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(*sampleDir, name+".png"), img.PNG, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %dx%d", name, img.Width, img.Height)
	}
	img, err := g.Official(Official{Name: "北京某某科技有限公司"})
	write("official", img, err)
	img, err = g.Official(Official{Name: "杭州天谷信息科技有限公司", Horizontal: "合同专用章"})
	write("contract", img, err)
	img, err = g.Official(Official{Name: "中国长江三峡集团有限公司上海分公司建设工程管理中心", Horizontal: "合同专用章", Bottom: "3101150012345"})
	write("long", img, err)
	img, err = g.Official(Official{Name: strings.Repeat("国", 25), Horizontal: "国国国国国国国国国国"})
	write("worst", img, err)
	img, err = g.Official(Official{Name: "ABC（中国）投资有限公司 (Beijing)", Horizontal: "合同专用章"})
	write("ascii", img, err)
	img, err = g.Official(Official{Name: "某某公司"})
	write("short", img, err)
	img, err = g.LegalRep(LegalRep{Name: "张三丰"})
	write("legal3", img, err)
	img, err = g.LegalRep(LegalRep{Name: "王五"})
	write("legal2", img, err)
	img, err = g.LegalRep(LegalRep{Name: "欧阳娜娜"})
	write("legal4", img, err)
	img, err = g.LegalRep(LegalRep{Name: "阿依古丽"})
	write("legal4b", img, err)
	img, err = g.LegalRep(LegalRep{Name: "买买提·艾力"})
	write("legal6", img, err)
	img, err = g.Personal(Personal{Name: "李小明"})
	write("personal", img, err)
	img, err = g.Personal(Personal{Name: "Mary Lee"})
	write("personal_latin", img, err)
}
